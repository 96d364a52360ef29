package dev.sluice.testing.fakes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class FakeOpenAiServerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final String STREAM_REQUEST =
      "{\"model\":\"gpt-4o\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
          + "\"messages\":[{\"role\":\"user\",\"content\":\"Hello!\"}]}";

  private FakeOpenAiServer fake;
  private HttpClient client;

  @BeforeEach
  void start() {
    fake = FakeOpenAiServer.start();
    client = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1).build();
  }

  @AfterEach
  void stop() {
    fake.close();
  }

  private HttpResponse<String> post(String path, String body) throws IOException, InterruptedException {
    return client.send(
        HttpRequest.newBuilder(URI.create(fake.baseUrl() + path))
            .timeout(Duration.ofSeconds(10))
            .header("content-type", "application/json")
            .POST(HttpRequest.BodyPublishers.ofString(body))
            .build(),
        HttpResponse.BodyHandlers.ofString());
  }

  @Test
  void streamsChunksExactlyAsOpenAiDoes() throws Exception {
    fake.enqueue(ChatReply.text("Hi there").usage(9, 2));

    HttpResponse<String> response = post("/chat/completions", STREAM_REQUEST);

    assertThat(response.statusCode()).isEqualTo(200);
    assertThat(response.headers().firstValue("content-type")).hasValue("text/event-stream; charset=utf-8");
    assertThat(response.headers().firstValue("transfer-encoding")).hasValue("chunked");
    String head =
        "{\"id\":\"chatcmpl-fake1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
            + "\"model\":\"gpt-4o\",\"service_tier\":\"default\",\"system_fingerprint\":\"fp_fake0001\",";
    assertThat(response.body())
        .isEqualTo(
            "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\","
                + "\"refusal\":null},\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
                + "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hi\"},"
                + "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
                + "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{\"content\":\" there\"},"
                + "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
                + "data: " + head + "\"choices\":[{\"index\":0,\"delta\":{},"
                + "\"logprobs\":null,\"finish_reason\":\"stop\"}],\"usage\":null}\n\n"
                + "data: " + head + "\"choices\":[],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":2,"
                + "\"total_tokens\":11,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}}}\n\n"
                + "data: [DONE]\n\n");
  }

  @Test
  void sendsTheUsageChunkOnlyWhenAskedFor() throws Exception {
    HttpResponse<String> response =
        post("/chat/completions", "{\"model\":\"m\",\"stream\":true,\"messages\":[]}");

    assertThat(response.body()).doesNotContain("\"usage\"").endsWith("data: [DONE]\n\n");
  }

  @Test
  void answersUnaryRequestsWithAChatCompletion() throws Exception {
    fake.enqueue(ChatReply.text("Hello!").usage(5, 1));

    JsonNode body =
        JSON.readTree(post("/chat/completions", "{\"model\":\"gpt-4o\",\"messages\":[]}").body());

    assertThat(body)
        .isEqualTo(
            JSON.readTree(
                "{\"id\":\"chatcmpl-fake1\",\"object\":\"chat.completion\",\"created\":1700000000,"
                    + "\"model\":\"gpt-4o\",\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\","
                    + "\"content\":\"Hello!\",\"refusal\":null,\"annotations\":[]},\"logprobs\":null,"
                    + "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":1,"
                    + "\"total_tokens\":6,\"prompt_tokens_details\":{\"cached_tokens\":0,\"audio_tokens\":0},"
                    + "\"completion_tokens_details\":{\"reasoning_tokens\":0,\"audio_tokens\":0,"
                    + "\"accepted_prediction_tokens\":0,\"rejected_prediction_tokens\":0}},"
                    + "\"service_tier\":\"default\",\"system_fingerprint\":\"fp_fake0001\"}"));
  }

  @Test
  void answersErrorsInOpenAisErrorShape() throws Exception {
    fake.enqueue(ChatReply.error(429, "rate_limit_exceeded", "Rate limit reached").header("retry-after", "3"));

    HttpResponse<String> response = post("/chat/completions", STREAM_REQUEST);

    assertThat(response.statusCode()).isEqualTo(429);
    assertThat(response.headers().firstValue("retry-after")).hasValue("3");
    assertThat(JSON.readTree(response.body()))
        .isEqualTo(
            JSON.readTree(
                "{\"error\":{\"message\":\"Rate limit reached\",\"type\":\"rate_limit_exceeded\","
                    + "\"param\":null,\"code\":\"rate_limit_exceeded\"}}"));
  }

  @Test
  void framesEventsWithTheConfiguredQuirks() throws Exception {
    fake.enqueue(ChatReply.text("A").lineEnding(SseLineEnding.CRLF).keepAliveComments().multiLineData());

    String body = post("/chat/completions", STREAM_REQUEST).body();

    assertThat(body).startsWith(": keep-alive\r\n\r\ndata: {\r\ndata:   \"id\" : \"chatcmpl-fake1\",\r\n");
    assertThat(body).endsWith("data: [DONE]\r\n\r\n");
    assertThat(body).doesNotContain("\n\n");
  }

  @Test
  void sendsAnErrorEventInsideA200Stream() throws Exception {
    fake.enqueue(ChatReply.text("a b c").errorEventAfter(2, "server_error", "boom"));

    String body = post("/chat/completions", STREAM_REQUEST).body();

    assertThat(body.split("\n\n")).hasSize(3);
    assertThat(body)
        .endsWith(
            "data: {\"error\":{\"message\":\"boom\",\"type\":\"server_error\",\"param\":null,\"code\":null}}\n\n");
  }

  @Test
  void breaksTheStreamWithAResetWhenScripted() throws Exception {
    fake.enqueue(ChatReply.text("a b c d").resetAfterEvents(2));

    assertThatThrownBy(() -> post("/chat/completions", STREAM_REQUEST)).isInstanceOf(IOException.class);
  }

  @Test
  void answersEmbeddingsInFloatsOrBase64() throws Exception {
    JsonNode floats =
        JSON.readTree(post("/embeddings", "{\"model\":\"e\",\"input\":[\"a\",\"b\"],\"dimensions\":3}").body());
    JsonNode packed =
        JSON.readTree(
            post("/embeddings", "{\"model\":\"e\",\"input\":\"a\",\"encoding_format\":\"base64\"}").body());

    assertThat(floats.get("object").asText()).isEqualTo("list");
    assertThat(floats.get("data")).hasSize(2);
    assertThat(floats.get("data").get(1).get("embedding")).hasSize(3);
    assertThat(floats.get("usage").get("prompt_tokens").asInt()).isEqualTo(2);
    assertThat(java.util.Base64.getDecoder().decode(packed.get("data").get(0).get("embedding").asText()))
        .hasSize(8 * 4);
  }

  @Test
  void recordsRequestsAndCountsConnections() throws Exception {
    post("/chat/completions", STREAM_REQUEST);
    post("/chat/completions", STREAM_REQUEST);

    RecordedRequest first = fake.takeRequest();
    assertThat(first.method()).isEqualTo("POST");
    assertThat(first.path()).isEqualTo("/v1/chat/completions");
    assertThat(first.header("Content-Type")).isEqualTo("application/json");
    assertThat(first.jsonBody().get("model").asText()).isEqualTo("gpt-4o");
    assertThat(fake.takeRequest().connectionId()).as("kept alive").isEqualTo(first.connectionId());
    assertThat(fake.connectionsOpened()).isEqualTo(1);
  }

  @Test
  void answersUnknownPathsWith404() throws Exception {
    HttpResponse<String> response = post("/responses", "{}");

    assertThat(response.statusCode()).isEqualTo(404);
    assertThat(JSON.readTree(response.body()).get("error").get("type").asText()).isEqualTo("invalid_request_error");
  }
}
