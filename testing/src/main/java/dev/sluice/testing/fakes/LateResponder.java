package dev.sluice.testing.fakes;

import java.util.function.Function;
import org.jspecify.annotations.Nullable;

/**
 * A server's responder that answers through the fake built around that server: the server must
 * exist before the fake's constructor finishes, so the fake binds itself here afterwards.
 */
final class LateResponder implements Function<RecordedRequest, ScriptedResponse> {
  private volatile @Nullable Function<RecordedRequest, ScriptedResponse> target;

  void bind(Function<RecordedRequest, ScriptedResponse> target) {
    this.target = target;
  }

  @Override
  public ScriptedResponse apply(RecordedRequest request) {
    Function<RecordedRequest, ScriptedResponse> t = target;
    if (t == null) {
      throw new IllegalStateException("fake not ready");
    }
    return t.apply(request);
  }
}
