package dev.sluice.testing.fakes;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;
import java.util.concurrent.TimeUnit;
import org.jspecify.annotations.Nullable;

/**
 * An SSE body as a list of JSON events plus the stream's quirks, turned lazily into the steps that
 * write it. Events are counted as they are written; the quirks that act "after N events" (reset,
 * close, hang, malformed event, an error event) take effect right after the N-th.
 */
final class EventScript {
  private record Spec(@Nullable String name, @Nullable JsonNode json, @Nullable String raw, boolean paced) {}

  private static final ObjectMapper JSON = new ObjectMapper();

  private final StreamQuirks<?> quirks;
  private final List<Spec> events = new ArrayList<>();
  private @Nullable Spec endMarker;
  private int errorAfter = -1;
  private @Nullable Spec error;

  EventScript(StreamQuirks<?> quirks) {
    this.quirks = quirks;
  }

  /** An event whose data is {@code json}; paced events are spaced by the token interval. */
  void event(@Nullable String name, JsonNode json, boolean paced) {
    events.add(new Spec(name, json, null, paced));
  }

  /** The protocol's end marker, sent last unless the quirks omit it. */
  void endMarker(@Nullable String name, @Nullable JsonNode json, @Nullable String raw) {
    endMarker = new Spec(name, json, raw, false);
  }

  /** An error event after {@code after} events; the body then ends without the end marker. */
  void errorAfter(int after, @Nullable String name, JsonNode json) {
    errorAfter = after;
    error = new Spec(name, json, null, false);
  }

  Iterable<ScriptedResponse.Step> steps() {
    return () -> new StepIterator(quirks.framing());
  }

  private final class StepIterator implements Iterator<ScriptedResponse.Step> {
    private final SseFraming framing;
    private final List<ScriptedResponse.Step> pending = new ArrayList<>();
    private int pendingIndex;
    private int next;
    private int written;
    private boolean pacedBefore;
    private boolean finished;
    private int quirkApplied = -1;

    StepIterator(SseFraming framing) {
      this.framing = framing;
      if (!quirks.firstTokenDelay.isZero()) {
        pending.add(new ScriptedResponse.Step.Pause(quirks.firstTokenDelay.toNanos()));
      }
    }

    @Override
    public boolean hasNext() {
      while (pendingIndex >= pending.size()) {
        if (finished) {
          return false;
        }
        pending.clear();
        pendingIndex = 0;
        fill();
      }
      return true;
    }

    @Override
    public ScriptedResponse.Step next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      return pending.get(pendingIndex++);
    }

    /** Adds the quirk due after the events written so far, else the next event, else the end. */
    private void fill() {
      if (quirkApplied < written) {
        quirkApplied = written;
        if (quirkAfter(written)) {
          return;
        }
      }
      if (next < events.size()) {
        Spec spec = events.get(next++);
        if (spec.paced && pacedBefore && !quirks.tokenInterval.isZero()) {
          pending.add(new ScriptedResponse.Step.Pause(quirks.tokenInterval.toNanos()));
        }
        pacedBefore |= spec.paced;
        pending.addAll(write(spec));
        written++;
        return;
      }
      finished = true;
      if (endMarker != null && !quirks.omitEndMarker) {
        pending.addAll(write(endMarker));
      }
      pending.add(new ScriptedResponse.Step.End());
    }

    /** Adds what the quirks do after {@code count} events; returns whether the body ends there. */
    private boolean quirkAfter(int count) {
      if (count == errorAfter && error != null) {
        pending.addAll(write(error));
        pending.add(new ScriptedResponse.Step.End());
        finished = true;
        return true;
      }
      if (count == quirks.malformedAfterEvents) {
        pending.addAll(framing.event(null, List.of("{\"id\":\"broken\",\"choices\":[{")));
      }
      if (count == quirks.resetAfterEvents) {
        // A moment first, so the events before the reset reach the client's socket.
        pending.add(new ScriptedResponse.Step.Pause(TimeUnit.MILLISECONDS.toNanos(20)));
        pending.add(new ScriptedResponse.Step.Reset());
        finished = true;
        return true;
      }
      if (count == quirks.closeAfterEvents) {
        pending.add(new ScriptedResponse.Step.Close());
        finished = true;
        return true;
      }
      if (count == quirks.hangAfterEvents) {
        pending.add(new ScriptedResponse.Step.Hang());
        finished = true;
        return true;
      }
      return false;
    }

    private List<ScriptedResponse.Step> write(Spec spec) {
      if (spec.raw != null) {
        return framing.event(spec.name, List.of(spec.raw));
      }
      return framing.event(spec.name, dataLines(spec.json));
    }
  }

  private List<String> dataLines(@Nullable JsonNode json) {
    try {
      if (quirks.multiLineData) {
        return List.of(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(json).split("\r?\n"));
      }
      return List.of(JSON.writeValueAsString(json));
    } catch (JsonProcessingException e) {
      throw new IllegalStateException(e);
    }
  }
}
