package dev.sluice.launcher;

/** The well-known ports of Sluice's servers, shared by the servers' and the clients' defaults. */
final class DefaultPorts {
  /** The data plane's inference API. */
  static final int DATA_PLANE = 50051;
  /** The control plane's admin and discovery API. */
  static final int CONTROL_PLANE = 50052;

  private DefaultPorts() {}
}
