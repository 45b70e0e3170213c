// bank_race: two tellers update one account without a lock. An ordinary
// program: trapsan finds the race because the build instruments it.
#include <chrono>
#include <cstdio>
#include <thread>

struct Account {
  long balance = 0;
  long deposits = 0;
};

Account g_account;

// Both threads run this at the same time: balance += amount is a plain
// read-modify-write, so deposits get lost.
void Deposit(long amount) {
  g_account.balance += amount;  // the racy line
  g_account.deposits++;
}

void Teller(std::chrono::steady_clock::time_point until) {
  while (std::chrono::steady_clock::now() < until) Deposit(1);
}

int main() {
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
  std::thread a(Teller, until), b(Teller, until);
  a.join();
  b.join();
  std::printf("balance %ld after %ld deposits\n", g_account.balance,
              g_account.deposits);
  return 0;
}
