namespace Tern.Runtime.Grammar;

/// <summary>A grammar or JSON schema that cannot be used: a syntax error (with line and column), an undefined or
/// left-recursive rule, an unsupported schema construct, or a grammar past the matcher's limits.</summary>
public sealed class GrammarException(string message) : Exception(message);
