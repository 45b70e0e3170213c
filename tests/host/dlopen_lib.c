/* The library dlopen_storm loads and unloads: loads and stores over a
 * caller's buffer (checked when built with the compiler plugin), and a
 * result that depends only on the arguments. */
unsigned long host_dlib_work(unsigned long* buf, int n, unsigned long seed) {
  unsigned long sum = seed;
  for (int i = 0; i < n; ++i) {
    buf[i] = buf[i] * 31 + seed + (unsigned long)i;
    sum += buf[i] ^ (sum >> 3);
  }
  return sum;
}
