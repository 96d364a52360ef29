package dev.sluice.launcher;

import static java.nio.charset.StandardCharsets.UTF_8;

import dev.sluice.client.ChatEventStream;
import dev.sluice.client.Messages;
import dev.sluice.client.SluiceClient;
import dev.sluice.client.SluiceClientBuilder;
import dev.sluice.client.SluiceException;
import dev.sluice.inference.v1.ChatRequest;
import dev.sluice.inference.v1.ChatResponse;
import dev.sluice.inference.v1.ChatStarted;
import dev.sluice.inference.v1.Choice;
import dev.sluice.inference.v1.ChoiceFinished;
import dev.sluice.inference.v1.ContentDelta;
import dev.sluice.inference.v1.ContentPart;
import dev.sluice.inference.v1.FinishReason;
import dev.sluice.inference.v1.StreamChatResponse;
import dev.sluice.inference.v1.Usage;
import io.grpc.Status;
import java.io.IOException;
import java.io.PrintWriter;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.logging.Level;
import org.jspecify.annotations.Nullable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Help.Visibility;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.ParentCommand;
import picocli.CommandLine.Spec;

/**
 * {@code sluice chat}: sends one prompt to a model through the gateway and streams the answer to
 * the terminal as it is generated. The answer goes to stdout; the usage summary and errors go to
 * stderr, so {@code sluice chat ... > answer.txt} keeps only the answer. Ctrl-C cancels the call on
 * the gateway (and the gateway cancels the upstream request).
 */
@Command(
    name = "chat",
    sortOptions = false,
    description = {
      "Streams a chat answer from the gateway to the terminal.",
      "The prompt is the arguments joined by spaces, or stdin when none is given (or '-').",
      "Example: sluice chat -m mock-chat \"Hello\""
    })
final class ChatCommand implements Callable<Integer> {
  static final String DEFAULT_SERVER = "127.0.0.1:" + DefaultPorts.DATA_PLANE;

  @ParentCommand private SluiceCommand parent;
  @Mixin private HelpOption help = new HelpOption();
  @Spec private CommandSpec spec;

  @Option(
      names = {"-m", "--model"},
      required = true,
      paramLabel = "MODEL",
      description = "Public model name or alias, e.g. mock-chat.")
  private String model;

  @Parameters(arity = "0..*", paramLabel = "PROMPT", description = "The prompt.")
  private List<String> prompt = List.of();

  @Option(names = "--system", paramLabel = "TEXT", description = "Instructions for the model.")
  private @Nullable String system;

  @Option(names = "--max-tokens", paramLabel = "N", description = "Maximum output tokens.")
  private @Nullable Integer maxTokens;

  @Option(names = "--temperature", paramLabel = "T", description = "Sampling temperature, 0 to 2.")
  private @Nullable Double temperature;

  @Option(
      names = {"-s", "--server"},
      paramLabel = "HOST:PORT",
      defaultValue = "${env:SLUICE_SERVER:-" + DEFAULT_SERVER + "}",
      description = "Data plane address (env SLUICE_SERVER; default ${DEFAULT-VALUE}).")
  private String server = DEFAULT_SERVER;

  @Option(
      names = "--api-key",
      paramLabel = "KEY",
      defaultValue = "${env:SLUICE_API_KEY}",
      showDefaultValue = Visibility.NEVER,
      description = "Inference API key (prefer env SLUICE_API_KEY: arguments show in `ps`).")
  private @Nullable String apiKey;

  @Option(
      names = "--timeout",
      paramLabel = "DURATION",
      defaultValue = "10m",
      converter = DurationConverter.class,
      description = "Deadline of the whole call (default ${DEFAULT-VALUE}).")
  private Duration timeout = Duration.ofMinutes(10);

  @Option(
      names = "--request-id",
      paramLabel = "ID",
      description = "Request id; also lets the client retry the call when no backend is available.")
  private @Nullable String requestId;

  @Option(names = "--no-stream", description = "Use the unary Chat call and print the answer at once.")
  private boolean noStream;

  @Mixin private TransportOptions transport = new TransportOptions();

  @Override
  public Integer call() throws IOException {
    parent.configureLogging(Level.WARNING);
    ChatRequest request = request(promptText());
    PrintWriter out = spec.commandLine().getOut();
    PrintWriter err = spec.commandLine().getErr();
    try (SluiceClient client = client()) {
      if (noStream) {
        ChatResponse response = client.chat(request);
        printAnswer(out, response);
        printSummary(err, response.getModel(), response.getBackend(), response.getUsage(),
            response.getChoicesCount() == 0 ? null : response.getChoices(0).getFinishReason(),
            response.getChoicesCount() == 0 ? "" : response.getChoices(0).getRawFinishReason());
        return ExitCodes.OK;
      }
      return stream(client, request, out, err);
    }
  }

  private int stream(SluiceClient client, ChatRequest request, PrintWriter out, PrintWriter err) {
    StreamPrinter printer = new StreamPrinter(out);
    ChatEventStream events = client.streamChat(request);
    try (InterruptHook hook = InterruptHook.install(events::cancel, Duration.ofSeconds(2))) {
      try (events) {
        while (events.hasNext()) {
          printer.accept(events.next());
        }
      } catch (SluiceException e) {
        printer.endLine();
        if (hook.fired() && e.code() == Status.Code.CANCELLED) {
          err.println("cancelled");
          err.flush();
          return ExitCodes.INTERRUPTED;
        }
        printer.printUsageIfAny(err);
        ErrorReport.print(err, e);
        return ExitCodes.FAILED;
      }
    }
    printer.endLine();
    printSummary(err, printer.model, printer.backend, printer.usage, printer.finishReason,
        printer.rawFinishReason);
    return ExitCodes.OK;
  }

  private SluiceClient client() {
    SluiceClientBuilder builder = SluiceClient.builder().target(server).deadline(timeout);
    if (transport.usePlaintext(server)) {
      builder.plaintext();
    } else if (transport.caFile != null) {
      builder.tls(transport.caFile);
    } else {
      builder.tls();
    }
    if (apiKey != null && !apiKey.isBlank()) {
      builder.apiKey(apiKey.strip());
    }
    return builder.build();
  }

  private String promptText() throws IOException {
    if (prompt.isEmpty() || prompt.equals(List.of("-"))) {
      if (System.console() != null && prompt.isEmpty()) {
        throw new CommandFailure("no prompt: give it as arguments, or pipe it on stdin");
      }
      String text = new String(System.in.readAllBytes(), UTF_8).strip();
      if (text.isEmpty()) {
        throw new CommandFailure("no prompt: stdin was empty");
      }
      return text;
    }
    return String.join(" ", prompt);
  }

  private ChatRequest request(String text) {
    ChatRequest.Builder request = ChatRequest.newBuilder().setModel(model).addMessages(Messages.user(text));
    if (system != null) {
      request.addInstructions(ContentPart.newBuilder().setText(system));
    }
    if (maxTokens != null) {
      if (maxTokens <= 0) {
        throw new CommandFailure("--max-tokens: " + maxTokens + " (expected: > 0)");
      }
      request.setMaxOutputTokens(maxTokens);
    }
    if (temperature != null) {
      request.setTemperature(temperature);
    }
    if (requestId != null) {
      request.setRequestId(requestId);
    }
    return request.build();
  }

  private static void printAnswer(PrintWriter out, ChatResponse response) {
    for (Choice choice : response.getChoicesList()) {
      for (ContentPart part : choice.getMessage().getPartsList()) {
        if (part.hasText()) {
          out.print(part.getText());
        } else if (part.hasRefusal()) {
          out.print(part.getRefusal());
        }
      }
      out.println();
    }
    out.flush();
  }

  static void printSummary(
      PrintWriter err,
      String model,
      String backend,
      @Nullable Usage usage,
      @Nullable FinishReason finishReason,
      String rawFinishReason) {
    StringBuilder line = new StringBuilder("[");
    if (usage != null) {
      line.append(usage.getInputTokens()).append(" input + ")
          .append(usage.getOutputTokens()).append(" output = ")
          .append(usage.getTotalTokens()).append(" tokens");
    } else {
      line.append("no usage reported");
    }
    if (finishReason != null) {
      line.append(" | finish ").append(finishReason.name().replace("FINISH_REASON_", ""));
      if (!rawFinishReason.isEmpty()) {
        line.append(" (").append(rawFinishReason).append(')');
      }
    }
    if (!model.isEmpty()) {
      line.append(" | model ").append(model);
    }
    if (!backend.isEmpty()) {
      line.append(" via ").append(backend);
    }
    err.println(line.append(']'));
    err.flush();
  }

  /** Prints deltas as they arrive and remembers what the summary line needs. */
  private static final class StreamPrinter {
    private final PrintWriter out;
    private boolean midLine;
    String model = "";
    String backend = "";
    @Nullable Usage usage;
    @Nullable FinishReason finishReason;
    String rawFinishReason = "";

    StreamPrinter(PrintWriter out) {
      this.out = out;
    }

    void accept(StreamChatResponse event) {
      switch (event.getEventCase()) {
        case STARTED -> {
          ChatStarted started = event.getStarted();
          model = started.getModel();
          backend = started.getBackend();
        }
        case CONTENT_DELTA -> {
          ContentDelta delta = event.getContentDelta();
          // Only the first choice is shown; the command never asks for more.
          if (delta.getChoiceIndex() == 0) {
            String text = delta.hasText() ? delta.getText() : delta.hasRefusal() ? delta.getRefusal() : "";
            if (!text.isEmpty()) {
              out.print(text);
              out.flush();
              midLine = !text.endsWith("\n");
            }
          }
        }
        case CHOICE_FINISHED -> {
          ChoiceFinished finished = event.getChoiceFinished();
          if (finished.getChoiceIndex() == 0) {
            finishReason = finished.getFinishReason();
            rawFinishReason = finished.getRawFinishReason();
          }
        }
        case USAGE -> usage = event.getUsage();
        case TOOL_CALL_DELTA, EVENT_NOT_SET -> {
          // Tool calls need tools in the request, which this command never sends.
        }
      }
    }

    void endLine() {
      if (midLine) {
        out.println();
        out.flush();
        midLine = false;
      }
    }

    void printUsageIfAny(PrintWriter err) {
      if (usage != null) {
        printSummary(err, model, backend, usage, finishReason, rawFinishReason);
      }
    }
  }
}
