// annotations_plain.c compiled as C++: in a C++ build without trapsan the
// annotations compile to nothing too (annotations_test.py checks that the
// program references no trapsan symbol).
#include "annotations_plain.c"
