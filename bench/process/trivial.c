// The start-up cost bench's program: it does nothing, so what a run costs
// is what loading and starting (and exiting) cost.
int main(void) { return 0; }
