namespace Tern.Cli.Hub;

/// <summary>A pull that cannot go on: unknown repository, missing quant, refused token, hash mismatch.</summary>
public sealed class HubException(string message) : Exception(message);
