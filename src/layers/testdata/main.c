int fixture_a(void);
int main(void) { return fixture_a() == 3 ? 0 : 1; }
