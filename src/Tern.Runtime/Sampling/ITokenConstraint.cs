namespace Tern.Runtime.Sampling;

/// <summary>
/// Restricts which tokens may be sampled (a grammar). The sampler checks the token it drew first and masks the
/// whole vocabulary only when that token is refused, as llama.cpp does.
/// </summary>
public interface ITokenConstraint
{
    /// <summary>Whether <paramref name="token"/> may come next.</summary>
    bool Allows(int token);

    /// <summary>Sets the logit of every token that may not come next to negative infinity.</summary>
    void Restrict(Span<float> logits);
}
