namespace Tern.Chat;

/// <summary>
/// Bounds on the work one render may do, so that no template (from a GGUF file or a request) can hang or exhaust
/// the server. Exceeding any of them throws <see cref="TemplateException"/>.
/// </summary>
public sealed record TemplateLimits
{
    /// <summary>
    /// U+FDD0, a noncharacter the server puts into request strings to keep special-token text in them plain text
    /// (Tern.Tokenizers.LiteralText.MarkChar). repr and tojson(ensure_ascii) pass it through unescaped, so a template
    /// that prints a message as a Python or JSON literal cannot turn the mark into "\ufdd0" and unmask the token.
    /// </summary>
    public const char LiteralMark = '\uFDD0';

    public static readonly TemplateLimits Default = new();

    /// <summary>
    /// Evaluation steps: every statement, expression node and loop iteration counts one, and so does the work inside
    /// an operation: each item compared, hashed, searched or copied, and each 64 characters read or built.
    /// </summary>
    public long MaxSteps { get; init; } = 10_000_000;

    /// <summary>
    /// Characters the template may write, counted over all output including captured macro and block bodies. It
    /// also bounds any one string an expression builds; all strings (and list items) built during a render together
    /// may reach 8 times it (room for a long conversation copied a few times over, but not for unbounded memory).
    /// </summary>
    public long MaxOutputChars { get; init; } = 4 << 20;

    /// <summary>Nesting depth of macro calls and recursive loops.</summary>
    public int MaxCallDepth { get; init; } = 100;

    /// <summary>Wall-clock time one render may take, checked together with the steps.</summary>
    public TimeSpan MaxDuration { get; init; } = TimeSpan.FromSeconds(2);
}
