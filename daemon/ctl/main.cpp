// policy-relayctl entry point; its commands land in the next commits.
int main() { return 0; }
