package dev.sluice.testing.etcd;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.HttpURLConnection;
import java.net.URI;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class EtcdExtensionTest {
  @RegisterExtension static final EtcdExtension etcd = EtcdExtension.create();

  @Test
  void servesHealthOnLoopbackAndComesBackAfterAKill() throws Exception {
    assertThat(etcd.clientEndpoint().getHost()).isEqualTo("127.0.0.1");
    assertThat(status()).isEqualTo(200);

    etcd.kill();
    assertThat(etcd.isRunning()).isFalse();

    etcd.start();
    assertThat(status()).isEqualTo(200);
  }

  private static int status() throws Exception {
    HttpURLConnection c =
        (HttpURLConnection) URI.create(etcd.clientUrl() + "/health").toURL().openConnection();
    try {
      return c.getResponseCode();
    } finally {
      c.disconnect();
    }
  }
}
