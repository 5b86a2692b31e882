using System.Text.Json.Nodes;
using Tern.Gguf;

namespace Tern.Chat;

/// <summary>
/// A compiled chat template: a Jinja2 subset interpreter that renders what Hugging Face's <c>apply_chat_template</c>
/// renders (trim_blocks, lstrip_blocks, loopcontrols, raise_exception, strftime_now, tojson as json.dumps), inside
/// a sandbox: templates see only plain values, and each render is bounded by <see cref="TemplateLimits"/>.
/// Thread-safe: one instance may render many inputs at once (<see cref="MaxConcurrentRenders"/> at a time).
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>The GGUF metadata key of a model's default chat template.</summary>
    public const string MetadataKey = "tokenizer.chat_template";

    /// <summary>ChatML, the fallback for models without a template (text parts of list contents are concatenated).</summary>
    public const string ChatMl =
        "{%- for message in messages -%}\n" +
        "{{- '<|im_start|>' + message['role'] + '\\n' -}}\n" +
        "{%- if message['content'] is string -%}{{- message['content'] -}}\n" +
        "{%- elif message['content'] is iterable -%}\n" +
        "{%- for part in message['content'] if part['type'] == 'text' -%}{{- part['text'] -}}{%- endfor -%}\n" +
        "{%- endif -%}\n" +
        "{{- '<|im_end|>\\n' -}}\n" +
        "{%- endfor -%}\n" +
        "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}\n";

    private readonly List<Stmt> _body;
    private readonly SemaphoreSlim _renders = new(MaxConcurrentRenders);

    private ChatTemplate(string source, List<Stmt> body)
    {
        Source = source;
        _body = body;
    }

    public string Source { get; }

    /// <summary>Compiles a template; throws <see cref="TemplateException"/> naming the line of a syntax error.</summary>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        return new ChatTemplate(source, Parser.Parse(source));
    }

    /// <summary>The template source stored in a GGUF file (<c>tokenizer.chat_template</c>, or <c>tokenizer.chat_template.NAME</c>), or null.</summary>
    public static string? SourceFromGguf(GgufFile file, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(file);
        return file.GetString(name is null ? MetadataKey : $"{MetadataKey}.{name}");
    }

    /// <summary>The compiled template of a GGUF file, or null when the file has none.</summary>
    public static ChatTemplate? FromGguf(GgufFile file, string? name = null) =>
        SourceFromGguf(file, name) is { } source ? Parse(source) : null;

    /// <summary>How many renders of one template run at once; more wait for a turn (each may hold a core and memory up to its limits).</summary>
    public const int MaxConcurrentRenders = 2;

    /// <summary>
    /// Renders <paramref name="input"/> within <paramref name="limits"/>, waiting for a turn when
    /// <see cref="MaxConcurrentRenders"/> renders are running. Throws <see cref="TemplateException"/> when the template
    /// fails or exceeds a limit, and <see cref="OperationCanceledException"/> soon after <paramref name="cancellation"/> fires.
    /// </summary>
    public string Render(ChatTemplateInput input, TemplateLimits? limits = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        _renders.Wait(cancellation);
        try
        {
            return RenderNow(input, limits ?? TemplateLimits.Default, cancellation);
        }
        finally
        {
            _renders.Release();
        }
    }

    /// <summary>As <see cref="Render"/>, but waits for a turn without blocking a thread.</summary>
    public async Task<string> RenderAsync(ChatTemplateInput input, TemplateLimits? limits = null, CancellationToken cancellation = default)
    {
        ArgumentNullException.ThrowIfNull(input);
        await _renders.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            return RenderNow(input, limits ?? TemplateLimits.Default, cancellation);
        }
        finally
        {
            _renders.Release();
        }
    }

    private string RenderNow(ChatTemplateInput input, TemplateLimits limits, CancellationToken cancellation)
    {
        try
        {
            var renderer = new Renderer(limits, input.Clock, cancellation);
            var scope = new Scope(Globals.Create());
            scope.Set("messages", Json.FromNode(renderer, input.Messages));
            scope.Set("tools", input.Tools is null ? NoneValue.Instance : Json.FromNode(renderer, input.Tools));
            scope.Set("documents", NoneValue.Instance);
            scope.Set("add_generation_prompt", Value.Bool(input.AddGenerationPrompt));
            scope.Set("bos_token", StringValue.Of(input.BosToken));
            scope.Set("eos_token", StringValue.Of(input.EosToken));
            foreach (var (name, value) in input.Variables ?? new Dictionary<string, JsonNode?>())
                scope.Set(name, Json.FromNode(renderer, value));
            return renderer.Render(_body, scope);
        }
        catch (Exception ex) when (ex is not (TemplateException or OperationCanceledException or OutOfMemoryException))
        {
            // a safety net: any other failure is a bug here, but callers should still see a template error
            throw new TemplateException($"template failed: {ex.Message}", inner: ex);
        }
    }
}
