int fixture_b(void) { return 2; }
