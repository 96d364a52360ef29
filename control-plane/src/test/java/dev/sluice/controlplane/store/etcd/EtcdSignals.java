package dev.sluice.controlplane.store.etcd;

import dev.sluice.testing.etcd.EtcdExtension;
import java.io.IOException;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Freezes and thaws the etcd of an {@link EtcdExtension} with SIGSTOP and SIGCONT: a hung server
 * whose connections stay open but never answer, which is what makes a client's deadlines matter.
 */
final class EtcdSignals {
  private EtcdSignals() {}

  /** Sends SIGSTOP to the etcd serving {@code etcd}. */
  static void freeze(EtcdExtension etcd) throws IOException, InterruptedException {
    signal(etcd, "-STOP");
  }

  /** Sends SIGCONT to the etcd serving {@code etcd}. */
  static void thaw(EtcdExtension etcd) throws IOException, InterruptedException {
    signal(etcd, "-CONT");
  }

  private static void signal(EtcdExtension etcd, String signal)
      throws IOException, InterruptedException {
    String listen = "--listen-client-urls=" + etcd.clientUrl();
    ProcessHandle process =
        ProcessHandle.current()
            .children()
            .filter(
                child -> child.info().arguments().map(List::of).orElse(List.of()).contains(listen))
            .findFirst()
            .orElseThrow(() -> new IllegalStateException("no etcd process listening on " + listen));
    Process kill =
        new ProcessBuilder("kill", signal, Long.toString(process.pid())).inheritIO().start();
    if (!kill.waitFor(10, TimeUnit.SECONDS) || kill.exitValue() != 0) {
      throw new IllegalStateException("kill " + signal + " " + process.pid() + " failed");
    }
  }
}
