package dev.sluice.testing.fakes;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.Test;

class FakeAnthropicAndGeminiServerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private final HttpClient client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();

  private HttpResponse<String> post(String url, String body) throws Exception {
    return client.send(
        HttpRequest.newBuilder(URI.create(url))
            .timeout(Duration.ofSeconds(10))
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void anthropicStreamsTypedEventsExactly() throws Exception {
    try (FakeAnthropicServer fake = FakeAnthropicServer.start()) {
      fake.enqueue(AnthropicReply.text("Hi you").usage(10, 2).cacheRead(3).pings());

      String body =
          post(fake.baseUrl() + "/v1/messages",
                  "{\"model\":\"claude-x\",\"max_tokens\":10,\"stream\":true,\"messages\":[]}")
              .body();

      assertThat(body)
          .isEqualTo(
              "event: message_start\n"
                  + "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_fake1\",\"type\":\"message\","
                  + "\"role\":\"assistant\",\"model\":\"claude-x\",\"content\":[],\"stop_reason\":null,"
                  + "\"stop_sequence\":null,\"usage\":{\"input_tokens\":10,\"cache_creation_input_tokens\":0,"
                  + "\"cache_read_input_tokens\":3,\"output_tokens\":1}}}\n\n"
                  + "event: ping\ndata: {\"type\":\"ping\"}\n\n"
                  + "event: content_block_start\n"
                  + "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
                  + "event: content_block_delta\n"
                  + "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hi\"}}\n\n"
                  + "event: content_block_delta\n"
                  + "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" you\"}}\n\n"
                  + "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                  + "event: ping\ndata: {\"type\":\"ping\"}\n\n"
                  + "event: message_delta\n"
                  + "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
                  + "\"usage\":{\"output_tokens\":2}}\n\n"
                  + "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    }
  }

  @Test
  void anthropicAnswersErrorsInItsShape() throws Exception {
    try (FakeAnthropicServer fake = FakeAnthropicServer.start()) {
      fake.enqueue(AnthropicReply.error(529, "overloaded_error", "Overloaded"));

      HttpResponse<String> r = post(fake.baseUrl() + "/v1/messages", "{\"max_tokens\":1,\"messages\":[]}");

      assertThat(r.statusCode()).isEqualTo(529);
      assertThat(JSON.readTree(r.body()))
          .isEqualTo(
              JSON.readTree(
                  "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"},"
                      + "\"request_id\":\"req_fake\"}"));
    }
  }

  @Test
  void geminiStreamsChunksWithCrlfAndNoEndMarker() throws Exception {
    try (FakeGeminiServer fake = FakeGeminiServer.start()) {
      fake.enqueue(GeminiReply.text("Hi").usage(4, 1).responseId("r1"));

      HttpResponse<String> r =
          post(fake.baseUrl() + "/v1beta/models/gemini-x:streamGenerateContent?alt=sse", "{\"contents\":[]}");

      String chunk =
          "{\"candidates\":[{\"content\":{\"parts\":[%s],\"role\":\"model\"},\"index\":0%s}]%s,"
              + "\"modelVersion\":\"gemini-x\",\"responseId\":\"r1\"}";
      assertThat(r.body())
          .isEqualTo(
              "data: " + String.format(chunk, "{\"text\":\"Hi\"}", "", "") + "\r\n\r\n"
                  + "data: "
                  + String.format(
                      chunk, "{\"text\":\"\"}", ",\"finishReason\":\"STOP\"",
                      ",\"usageMetadata\":{\"promptTokenCount\":4,\"candidatesTokenCount\":1,\"totalTokenCount\":5}")
                  + "\r\n\r\n");
    }
  }

  @Test
  void geminiAnswersErrorsInGooglesShape() throws Exception {
    try (FakeGeminiServer fake = FakeGeminiServer.start()) {
      fake.enqueue(GeminiReply.error(429, "RESOURCE_EXHAUSTED", "Quota exceeded"));

      HttpResponse<String> r = post(fake.baseUrl() + "/v1beta/models/g:generateContent", "{}");

      assertThat(r.statusCode()).isEqualTo(429);
      assertThat(JSON.readTree(r.body()))
          .isEqualTo(
              JSON.readTree("{\"error\":{\"code\":429,\"message\":\"Quota exceeded\",\"status\":\"RESOURCE_EXHAUSTED\"}}"));
    }
  }
}
