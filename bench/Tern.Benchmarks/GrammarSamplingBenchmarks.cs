using System.Runtime.CompilerServices;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Tern.Gguf;
using Tern.Runtime.Grammar;
using Tern.Runtime.Sampling;
using Tern.Tokenizers;

namespace Tern.Benchmarks;

/// <summary>
/// What a JSON schema costs per generated token on the real 151,669-token Qwen vocabulary: sampling one reply
/// (a 60-odd-token JSON object) with the default sampler chain, without and with the schema's grammar. The logits are
/// shaped like a trained model's: the reply's next token leads (p ≈ 0.9) over Gaussian noise, and on one step in
/// <see cref="WrongTopEvery"/> a random token (almost always one the grammar refuses) leads instead, so the full mask
/// is paid there as it would be when a model drifts. Per token: Constrained − Free is the grammar's cost, to set
/// against the model's decode time (see docs/bench/structured-output.md).
/// </summary>
[MemoryDiagnoser]
public class GrammarSamplingBenchmarks
{
    private const string Schema = """{"type":"object","properties":{"name":{"type":"string","maxLength":40},"age":{"type":"integer","minimum":0,"maximum":150},"email":{"type":"string","format":"email"},"tags":{"type":"array","items":{"enum":["admin","user","guest"]},"maxItems":5},"address":{"type":"object","properties":{"city":{"type":"string"},"zip":{"type":"string","pattern":"^[0-9]{5}$"}},"required":["city","zip"]}},"required":["name","age","email","tags","address"]}""";
    private const string Reply = """{"name": "Ada Lovelace, Countess of Lovelace", "age": 36, "email": "ada@example.org", "tags": ["admin", "user"], "address": {"city": "London, Marylebone", "zip": "12345"}}""";

    private Grammar _grammar = null!;
    private GrammarVocabulary _vocab = null!;
    private int[] _reply = [];
    private float[][] _logits = [];
    private readonly SamplingParams _sampling = new() { Temperature = 1, Seed = 7 };

    [Params(10)]
    public int WrongTopEvery { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        using var file = GgufFile.Open(Path.Combine(RepoRoot(), "..", "shared", "tokenizer", "ggml-vocab-qwen2.gguf"));
        var tokenizer = Tokenizer.FromGguf(file);
        _vocab = GrammarVocabulary.For(tokenizer);
        using var doc = JsonDocument.Parse(Schema);
        _grammar = JsonSchemaGrammar.FromSchema(doc.RootElement);
        _reply = [.. tokenizer.Encode(Reply, addSpecial: false), tokenizer.Eos];
        var random = new Random(1);
        var follow = new GrammarConstraint(_grammar, _vocab);
        _logits = new float[_reply.Length][];
        for (int i = 0; i < _reply.Length; i++)
        {
            var l = _logits[i] = new float[_vocab.Count];
            for (int t = 0; t < l.Length; t++)
                l[t] = (float)(2 * Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble()));
            l[_reply[i]] = 16;
            if (i % WrongTopEvery == WrongTopEvery - 1)
            {
                int wrong;
                do
                    wrong = random.Next(l.Length);
                while (follow.Allows(wrong));
                l[wrong] = 30; // the model's favourite is a token the grammar refuses
            }

            follow.Accept(_reply[i]);
        }
    }

    [Benchmark(Baseline = true)]
    public int Free()
    {
        var chain = new SamplerChain(_sampling, _vocab.Count);
        int sum = 0;
        for (int i = 0; i < _reply.Length; i++)
            sum += chain.Sample(_logits[i], _reply.AsSpan(0, i), []).Token;
        return sum;
    }

    [Benchmark]
    public int Constrained()
    {
        var chain = new SamplerChain(_sampling, _vocab.Count);
        var constraint = new GrammarConstraint(_grammar, _vocab);
        int sum = 0;
        for (int i = 0; i < _reply.Length; i++)
        {
            int token = chain.Sample(_logits[i], _reply.AsSpan(0, i), [], constraint).Token;
            if (token != _reply[i])
                throw new InvalidOperationException($"step {i}: sampled {token}, the reply has {_reply[i]}");
            constraint.Accept(token);
            sum += token;
        }

        return sum;
    }

    /// <summary>The worst case: a full mask at every token of the reply (as if the model's choice were refused every time).</summary>
    [Benchmark]
    public int MaskEveryToken()
    {
        var constraint = new GrammarConstraint(_grammar, _vocab);
        int sum = 0;
        for (int i = 0; i < _reply.Length; i++)
        {
            sum += constraint.Mask().Length;
            constraint.Accept(_reply[i]);
        }

        return sum;
    }

    private static string RepoRoot([CallerFilePath] string here = "") => Path.GetFullPath(Path.Combine(Path.GetDirectoryName(here)!, "..", ".."));
}
