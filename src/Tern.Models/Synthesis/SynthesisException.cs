namespace Tern.Models.Synthesis;

/// <summary>A synthetic model that cannot be made as asked (unknown shape or type, bad layer count).</summary>
public sealed class SynthesisException(string message) : Exception(message);
