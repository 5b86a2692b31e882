namespace Tern.Cli.Hub;

/// <summary>One file of a hub repository: its path, size and the SHA-256 the hub reports (null when it reports none).</summary>
public sealed record HubFile(string Path, long Size, string? Sha256);
