// policy-relayd entry point; the server wiring lands in the next commits.
int main() { return 0; }
