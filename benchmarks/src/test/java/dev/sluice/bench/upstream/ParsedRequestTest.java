package dev.sluice.bench.upstream;

import static java.nio.charset.StandardCharsets.UTF_8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import org.junit.jupiter.api.Test;

class ParsedRequestTest {
  private static ParsedRequest parse(String json) throws IOException {
    return ParsedRequest.parse(new ByteArrayInputStream(json.getBytes(UTF_8)));
  }

  @Test
  void readsTheFieldsItNeedsAndSkipsTheRest() throws IOException {
    ParsedRequest r =
        parse(
            "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}],"
                + "\"model\":\"gpt-x\",\"tools\":[{\"a\":{\"b\":[1,2]}}],\"stream\":true,"
                + "\"stream_options\":{\"include_usage\":true},\"max_tokens\":7}");
    assertThat(r).isEqualTo(new ParsedRequest("gpt-x", true, 7, true, 1));
  }

  @Test
  void maxCompletionTokensWinsOverMaxTokens() throws IOException {
    assertThat(parse("{\"max_completion_tokens\":9,\"max_tokens\":3}").maxTokens()).isEqualTo(9);
  }

  @Test
  void countsEmbeddingInputs() throws IOException {
    assertThat(parse("{\"input\":[\"a\",\"b\",\"c\"]}").inputs()).isEqualTo(3);
    assertThat(parse("{\"input\":\"a\"}").inputs()).isEqualTo(1);
  }

  @Test
  void rejectsNonObjects() {
    assertThatThrownBy(() -> parse("[1]")).isInstanceOf(IOException.class);
  }
}
