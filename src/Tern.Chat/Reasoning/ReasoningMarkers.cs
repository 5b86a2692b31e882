namespace Tern.Chat.Reasoning;

/// <summary>How a model family marks its reasoning: the text between <see cref="Open"/> and <see cref="Close"/> at the start of a turn.</summary>
public sealed record ReasoningMarkers(string Open, string Close)
{
    /// <summary>Qwen3, Qwen3.5/3.6, DeepSeek-R1 and the many models that copied them: <c>&lt;think&gt;…&lt;/think&gt;</c>.</summary>
    public static ReasoningMarkers Think { get; } = new("<think>", "</think>");

    /// <summary>Gemma 4's thought channel: <c>&lt;|channel&gt;thought…&lt;channel|&gt;</c>.</summary>
    public static ReasoningMarkers Gemma4 { get; } = new("<|channel>thought", "<channel|>");

    /// <summary>The markers a chat template writes, or null when it writes none (its models' output is then all content).</summary>
    public static ReasoningMarkers? Detect(string? templateSource)
    {
        if (string.IsNullOrEmpty(templateSource))
            return null;
        if (templateSource.Contains("<|channel>", StringComparison.Ordinal) && templateSource.Contains("<channel|>", StringComparison.Ordinal))
            return Gemma4;
        if (templateSource.Contains(Think.Close, StringComparison.Ordinal))
            return Think;
        return null;
    }

    /// <summary>
    /// True when the rendered prompt leaves a reasoning block open (Qwen3.5's generation prompt ends with <c>&lt;think&gt;\n</c>
    /// when thinking is on): the model's output then starts inside it, without the opening marker.
    /// </summary>
    public bool OpenedBy(string prompt)
    {
        ArgumentNullException.ThrowIfNull(prompt);
        return prompt.AsSpan().TrimEnd().EndsWith(Open, StringComparison.Ordinal);
    }
}
