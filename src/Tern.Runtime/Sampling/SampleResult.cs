namespace Tern.Runtime.Sampling;

/// <summary>A token and its log-probability under the model (log-softmax of the logits after logit bias).</summary>
public readonly record struct TokenLogprob(int Token, float Logprob);

/// <summary>
/// The sampled token, its log-probability under the model (log-softmax after logit bias, before penalties,
/// filters and temperature, as OpenAI's <c>logprobs</c> reports it), and how many top alternatives were written.
/// </summary>
public readonly record struct SampleResult(int Token, float Logprob, int TopCount);
