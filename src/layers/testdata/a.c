int fixture_b(void);
int fixture_a(void) { return fixture_b() + 1; }
