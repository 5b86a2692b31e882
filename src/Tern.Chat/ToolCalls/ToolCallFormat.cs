namespace Tern.Chat.ToolCalls;

/// <summary>How a model family writes tool calls in its assistant turns.</summary>
public enum ToolCallFormat
{
    /// <summary>
    /// No family format known: the whole message is a JSON call (<c>{"name", "arguments"}</c>, <c>{"tool_calls": [...]}</c>,
    /// an array of calls), or a <c>```json</c> fenced block holds one.
    /// </summary>
    Generic,

    /// <summary>Hermes 2 Pro / Hermes 3 and Qwen2.5 / Qwen3: <c>&lt;tool_call&gt;{"name", "arguments"}&lt;/tool_call&gt;</c> blocks.</summary>
    Hermes,

    /// <summary>
    /// Llama 3.1–3.3: the message is <c>{"name", "parameters"}</c>, or <c>&lt;|python_tag|&gt;</c> followed by such JSON, a
    /// built-in call <c>brave_search.call(query="...")</c> or raw code (a call to <c>python</c> with <c>{"code"}</c>).
    /// </summary>
    Llama3,

    /// <summary>
    /// Mistral: <c>[TOOL_CALLS][{"name", "arguments", "id"}]</c> (Nemo) or <c>[TOOL_CALLS]name[ARGS]{...}</c> (newer models,
    /// optionally <c>[CALL_ID]id</c> before <c>[ARGS]</c>).
    /// </summary>
    Mistral,

    /// <summary>
    /// Qwen3.5 / Qwen3.6 and Qwen3-Coder: <c>&lt;tool_call&gt;&lt;function=NAME&gt;&lt;parameter=ARG&gt;value&lt;/parameter&gt;&lt;/function&gt;&lt;/tool_call&gt;</c>,
    /// the values typed by the tool's JSON schema.
    /// </summary>
    QwenXml,

    /// <summary>Gemma 4: <c>&lt;|tool_call&gt;call:NAME{key:value,...}&lt;tool_call|&gt;</c>, strings between <c>&lt;|"|&gt;</c> delimiters.</summary>
    Gemma4,
}

/// <summary>Chooses the tool-call format of a model from its chat template, the way llama.cpp does: by the markup the template writes.</summary>
public static class ToolCallFormats
{
    public static ToolCallFormat Detect(ChatTemplate template)
    {
        ArgumentNullException.ThrowIfNull(template);
        return Detect(template.Source);
    }

    public static ToolCallFormat Detect(string? templateSource)
    {
        if (string.IsNullOrEmpty(templateSource))
            return ToolCallFormat.Generic;
        if (templateSource.Contains("<|tool_call>call:", StringComparison.Ordinal))
            return ToolCallFormat.Gemma4;
        if (templateSource.Contains("<tool_call>", StringComparison.Ordinal))
        {
            return templateSource.Contains("<function=", StringComparison.Ordinal) && templateSource.Contains("<parameter=", StringComparison.Ordinal)
                ? ToolCallFormat.QwenXml
                : ToolCallFormat.Hermes;
        }
        if (templateSource.Contains("[TOOL_CALLS]", StringComparison.Ordinal))
            return ToolCallFormat.Mistral;
        // Functionary v3.1 has the ipython role too, but calls tools with its own <function=name> markup
        if (templateSource.Contains("<|start_header_id|>ipython<|end_header_id|>", StringComparison.Ordinal)
            && !templateSource.Contains("<function=", StringComparison.Ordinal))
            return ToolCallFormat.Llama3;
        return ToolCallFormat.Generic;
    }
}
