namespace Tern.Server;

/// <summary>
/// The top-level fields each route reads. A field outside its list is a 400 naming it, so a client that relies on a
/// parameter Tern does not implement learns so, instead of getting an unconstrained 200. The few fields accepted and
/// ignored for compatibility are listed apart (<see cref="Ignored"/>), and README names them.
/// </summary>
internal static class RequestFields
{
    /// <summary>Sampling fields shared by chat and text completions (OpenAI's and llama-server's names).</summary>
    private static readonly string[] Sampling =
    [
        "model", "temperature", "top_p", "top_k", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty",
        "seed", "logit_bias", "n", "max_tokens", "stop", "stream", "stream_options", "logprobs",
        "response_format", "json_schema", "grammar", "cache_prompt", "id_slot",
    ];

    public static readonly IReadOnlySet<string> Chat = new HashSet<string>(Sampling)
    {
        "messages", "tools", "tool_choice", "parallel_tool_calls", "chat_template_kwargs", "reasoning_effort",
        "max_completion_tokens", "top_logprobs", "modalities", "store", BuiltinTools.Field,
    };

    public static readonly IReadOnlySet<string> Completion = new HashSet<string>(Sampling) { "prompt", "echo", "suffix", "best_of" };

    /// <summary>Accepted and ignored: they describe the caller or the account, and change nothing in the output.</summary>
    public static readonly IReadOnlySet<string> Ignored = new HashSet<string> { "user", "metadata", "service_tier", "prompt_cache_key", "safety_identifier" };

    /// <summary>400 for the first field of <paramref name="r"/> that is neither in <paramref name="known"/> nor ignored.</summary>
    public static void Check(JsonRequest r, IReadOnlySet<string> known, string route)
    {
        foreach (var p in r.Root.EnumerateObject())
        {
            if (!known.Contains(p.Name) && !Ignored.Contains(p.Name))
                throw ApiException.BadRequest($"'{p.Name}' is not a parameter {route} supports", p.Name, "unknown_parameter");
        }
    }
}
