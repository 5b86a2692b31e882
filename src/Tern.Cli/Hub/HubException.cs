namespace Tern.Cli.Hub;

/// <summary>A pull that cannot go on: unknown repository, missing quant, refused token, hash mismatch.</summary>
public sealed class HubException(string message, bool unreachable = false) : Exception(message)
{
    /// <summary>The hub could not be reached at all (no network, wrong HF_ENDPOINT): a local copy may still serve.</summary>
    public bool Unreachable { get; } = unreachable;
}
