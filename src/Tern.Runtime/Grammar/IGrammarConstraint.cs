using Tern.Runtime.Sampling;

namespace Tern.Runtime.Grammar;

/// <summary>A grammar the engine samples under: it checks and masks tokens, follows the sampled ones, and may end the text.</summary>
public interface IGrammarConstraint : ITokenConstraint
{
    /// <summary>Moves past a sampled token; a token the grammar refuses throws.</summary>
    void Accept(int token);

    /// <summary>The text is complete and nothing may follow: generation should end here.</summary>
    bool MustEnd { get; }
}
