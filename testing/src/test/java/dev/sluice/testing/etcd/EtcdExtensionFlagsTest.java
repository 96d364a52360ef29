package dev.sluice.testing.etcd;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.HttpURLConnection;
import java.net.URI;
import java.util.Base64;
import java.util.StringJoiner;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

class EtcdExtensionFlagsTest {
  @RegisterExtension
  static final EtcdExtension etcd = EtcdExtension.create().withFlags("--max-txn-ops=256");

  @Test
  void extraFlagsReachTheServer() throws Exception {
    // etcd's default --max-txn-ops is 128: a 200-put transaction passes only with the flag.
    Response response = txnOfPuts(200);

    assertThat(response.status()).as(response.body()).isEqualTo(200);
    assertThat(txnOfPuts(257).body()).contains("too many operations in txn request");
  }

  @Test
  void flagsTheExtensionManagesOrMalformedOnesAreRefused() {
    assertThatThrownBy(() -> EtcdExtension.create().withFlags("--data-dir=/elsewhere"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--data-dir");
    assertThatThrownBy(() -> EtcdExtension.create().withFlags("max-txn-ops=10"))
        .isInstanceOf(IllegalArgumentException.class)
        .hasMessageContaining("--name=value");
  }

  private record Response(int status, String body) {}

  /** One transaction of {@code puts} puts, through etcd's JSON gateway. */
  private static Response txnOfPuts(int puts) throws Exception {
    StringJoiner ops = new StringJoiner(",", "{\"success\":[", "]}");
    for (int i = 0; i < puts; i++) {
      ops.add(
          "{\"requestPut\":{\"key\":\"" + base64("flags-test/" + i) + "\",\"value\":\"" + base64("v")
              + "\"}}");
    }
    HttpURLConnection c =
        (HttpURLConnection) URI.create(etcd.clientUrl() + "/v3/kv/txn").toURL().openConnection();
    try {
      c.setRequestMethod("POST");
      c.setDoOutput(true);
      c.setConnectTimeout(5_000);
      c.setReadTimeout(10_000);
      try (OutputStream out = c.getOutputStream()) {
        out.write(ops.toString().getBytes(UTF_8));
      }
      int status = c.getResponseCode();
      try (InputStream in = status < 400 ? c.getInputStream() : c.getErrorStream()) {
        return new Response(status, in == null ? "" : new String(in.readAllBytes(), UTF_8));
      }
    } finally {
      c.disconnect();
    }
  }

  private static String base64(String text) {
    return Base64.getEncoder().encodeToString(text.getBytes(UTF_8));
  }
}
