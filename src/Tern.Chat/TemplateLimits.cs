namespace Tern.Chat;

/// <summary>
/// Bounds on the work one render may do, so that no template (from a GGUF file or a request) can hang or exhaust
/// the server. Exceeding any of them throws <see cref="TemplateException"/>.
/// </summary>
public sealed record TemplateLimits
{
    public static readonly TemplateLimits Default = new();

    /// <summary>Evaluation steps: every statement, expression node and loop iteration counts one.</summary>
    public long MaxSteps { get; init; } = 10_000_000;

    /// <summary>
    /// Characters the template may write, counted over all output including captured macro and block bodies. It
    /// also bounds any one string an expression builds; all strings built during a render together may reach 64
    /// times it (room for quadratic concatenation over a long conversation, but not for unbounded memory).
    /// </summary>
    public long MaxOutputChars { get; init; } = 16 << 20;

    /// <summary>Nesting depth of macro calls and recursive loops.</summary>
    public int MaxCallDepth { get; init; } = 100;
}
