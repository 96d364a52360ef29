package dev.sluice.integration;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import dev.sluice.admin.v1.GetFleetStatusRequest;
import dev.sluice.admin.v1.GetFleetStatusResponse;
import dev.sluice.admin.v1.NodeSyncState;
import dev.sluice.client.ChatEventStream;
import dev.sluice.client.Messages;
import dev.sluice.client.SluiceException;
import dev.sluice.controlplane.store.ConfigStore;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.ModelInfo;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.StreamChatResponse.EventCase;
import dev.sluice.inference.v1.Usage;
import dev.sluice.testing.fakes.ChatReply;
import dev.sluice.testing.fakes.FakeOpenAiServer;
import dev.sluice.testing.fakes.RecordedRequest;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.Timeout;

/**
 * The thin path through the whole system, as issue 2 asks: an operator's config goes into the
 * control plane through the admin API, reaches the data plane over the discovery stream, and a
 * client streams tokens through the data plane from an OpenAI-compatible upstream that speaks the
 * real HTTP + SSE wire format. Subclasses choose the config store.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
@Timeout(120)
abstract class StreamingThroughTheGatewayContract {
  private static final String MODEL = "gpt-fake";
  private static final String UPSTREAM_MODEL = "gpt-4o-mini-2024-07-18";
  private static final String BACKEND = "fake-openai";

  private FakeOpenAiServer upstream;
  private GatewayFixture gateway;
  private long configVersion;

  /** The store under test; the fixture closes it. */
  abstract ConfigStore openStore() throws Exception;

  @BeforeAll
  void startGateway() throws Exception {
    upstream = FakeOpenAiServer.start();
    gateway = GatewayFixture.start(openStore());
    configVersion =
        gateway.apply(
            TestConfig.openAiCompatibleBackend(BACKEND, upstream.baseUrl()),
            TestConfig.chatModel(MODEL, BACKEND, UPSTREAM_MODEL));
  }

  @AfterAll
  void stopGateway() throws Exception {
    if (gateway != null) {
      gateway.close();
    }
    if (upstream != null) {
      upstream.close();
    }
  }

  @Test
  void streamsTheUpstreamTokensInOrderWithTheUsage() {
    upstream.enqueue(ChatReply.tokens(List.of("Sluice", " streams", " tokens", ".")).usage(11, 4));
    List<StreamChatResponse> events = new ArrayList<>();

    try (ChatEventStream stream = gateway.client().streamChat(hello())) {
      stream.forEachRemaining(events::add);
    }

    assertThat(events)
        .extracting(StreamChatResponse::getEventCase)
        .containsExactly(
            EventCase.STARTED,
            EventCase.CONTENT_DELTA,
            EventCase.CONTENT_DELTA,
            EventCase.CONTENT_DELTA,
            EventCase.CONTENT_DELTA,
            EventCase.CHOICE_FINISHED,
            EventCase.USAGE);
    ChatStarted started = events.get(0).getStarted();
    assertThat(started.getModel()).isEqualTo(MODEL);
    assertThat(started.getBackend()).isEqualTo(BACKEND);
    assertThat(
            events.stream()
                .filter(StreamChatResponse::hasContentDelta)
                .map(e -> e.getContentDelta().getText())
                .reduce("", String::concat))
        .isEqualTo("Sluice streams tokens.");
    ChoiceFinished finished = events.get(5).getChoiceFinished();
    assertThat(finished.getFinishReason()).isEqualTo(FinishReason.FINISH_REASON_STOP);
    assertThat(finished.getRawFinishReason()).isEqualTo("stop");
    Usage usage = events.get(6).getUsage();
    assertThat(usage.getInputTokens()).isEqualTo(11);
    assertThat(usage.getOutputTokens()).isEqualTo(4);
    assertThat(usage.getTotalTokens()).isEqualTo(15);
  }

  @Test
  void sendsTheUpstreamAStreamingChatCompletionsRequestForItsModel() {
    upstream.enqueue(ChatReply.text("ok").usage(3, 1));
    int before = upstream.requests().size();

    try (ChatEventStream stream = gateway.client().streamChat(hello())) {
      stream.forEachRemaining(event -> {});
    }

    RecordedRequest sent = upstream.requests().get(before);
    assertThat(sent.method()).isEqualTo("POST");
    assertThat(sent.path()).isEqualTo("/v1/chat/completions");
    JsonNode body = sent.jsonBody();
    assertThat(body.get("model").asText()).isEqualTo(UPSTREAM_MODEL);
    assertThat(body.get("stream").asBoolean()).isTrue();
    assertThat(body.at("/stream_options/include_usage").asBoolean()).isTrue();
    assertThat(body.at("/messages/0/role").asText()).isEqualTo("user");
    assertThat(body.at("/messages/0/content").toString()).contains("Hello");
  }

  @Test
  void answersAUnaryChatWithTheWholeText() {
    upstream.enqueue(ChatReply.text("A whole answer.").usage(5, 3));

    ChatResponse response = gateway.client().chat(hello());

    assertThat(response.getModel()).isEqualTo(MODEL);
    assertThat(response.getChoices(0).getMessage().getParts(0).getText())
        .isEqualTo("A whole answer.");
    assertThat(response.getUsage().getInputTokens()).isEqualTo(5);
    assertThat(response.getUsage().getOutputTokens()).isEqualTo(3);
  }

  @Test
  void listsTheConfiguredModel() {
    assertThat(gateway.client().listModels()).extracting(ModelInfo::getName).contains(MODEL);
  }

  @Test
  void refusesAnUnknownModelWithItsReason() {
    ChatRequest unknown = hello().toBuilder().setModel("no-such-model").build();

    assertThatThrownBy(() -> gateway.client().chat(unknown))
        .isInstanceOfSatisfying(
            SluiceException.class,
            e -> {
              assertThat(e.code()).isEqualTo(Status.Code.NOT_FOUND);
              assertThat(e.reason()).isEqualTo("MODEL_NOT_FOUND");
            });
  }

  @Test
  void reportsTheDataPlaneAsSyncedInTheFleet() {
    GetFleetStatusResponse fleet =
        gateway.admin().getFleetStatus(GetFleetStatusRequest.getDefaultInstance());

    assertThat(fleet.getNodesList())
        .singleElement()
        .satisfies(
            node -> {
              assertThat(node.getNode().getId()).isEqualTo("it-dp");
              assertThat(node.getState()).isEqualTo(NodeSyncState.NODE_SYNC_STATE_SYNCED);
              assertThat(node.getAppliedVersion()).isGreaterThanOrEqualTo(configVersion);
            });
  }

  @Test
  void servesAConfigChangeOnceItIsApplied() {
    long newVersion =
        gateway.apply(TestConfig.chatModel("gpt-fake-two", BACKEND, "gpt-4o-2024-11-20"));
    upstream.enqueue(ChatReply.text("second model").usage(2, 2));

    ChatResponse response =
        gateway.client().chat(hello().toBuilder().setModel("gpt-fake-two").build());

    assertThat(newVersion).isGreaterThan(configVersion);
    assertThat(response.getModel()).isEqualTo("gpt-fake-two");
    assertThat(upstream.requests().get(upstream.requests().size() - 1).jsonBody().get("model").asText())
        .isEqualTo("gpt-4o-2024-11-20");
  }

  private static ChatRequest hello() {
    return ChatRequest.newBuilder().setModel(MODEL).addMessages(Messages.user("Hello")).build();
  }
}
