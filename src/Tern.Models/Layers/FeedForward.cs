using System.Numerics.Tensors;
using Tern.Kernels;

namespace Tern.Models;

public abstract unsafe partial class DecoderModel
{
    /// <summary>SwiGLU feed-forward: down(silu(gate·h) ⊙ up·h), or GEGLU with tanh-GELU in place of silu
    /// (<paramref name="geluTanh"/>, gemma), with an optional RMS norm before down (bitnet).
    /// h: [N, n_embd] → output: [N, n_embd].</summary>
    protected void FeedForward(ReadOnlySpan<float> h, FeedForwardWeights w, Span<float> output, float[]? subNorm = null, bool geluTanh = false)
    {
        var gate = _buffers.Gate.AsSpan(0, N * w.Gate.Rows);                    // [N, n_ff]
        var up = _buffers.Up.AsSpan(0, gate.Length);                              // [N, n_ff]
        Linear(w.Gate, h, gate);
        Linear(w.Up, h, up);
        Glu(gate, up, gate, geluTanh);
        if (subNorm is not null)
            RmsNorm(gate, subNorm, gate);
        Linear(w.Down, gate, output);
    }

    /// <summary>
    /// Mixture-of-Experts, as llama.cpp's build_moe_ffn: router softmax over experts, the top expert_used_count per
    /// token with their weights renormalized to sum to 1 (the sum clamped below at 2⁻¹⁴), and the weighted sum of
    /// those experts' gated outputs (SwiGLU, or GEGLU with tanh-GELU: <paramref name="geluTanh"/>). The router reads
    /// <paramref name="routerInput"/> when given (gemma4: the residual stream, normed and scaled by
    /// <see cref="ExpertWeights.RouterInputScale"/>), else h. All tokens of the step are routed first, then grouped
    /// by expert, and every selected expert's gate and up run in one pool pass, its down in a second: each expert's
    /// weights are read once per step. h: [N, n_embd] → output: [N, n_embd].
    /// </summary>
    protected void MixtureOfExperts(ReadOnlySpan<float> h, ExpertWeights w, Span<float> output, bool geluTanh = false, ReadOnlySpan<float> routerInput = default)
    {
        var hp = Config;
        int d = hp.EmbeddingLength, nExp = hp.ExpertCount, used = hp.ExpertUsedCount;
        var r = routerInput.IsEmpty ? h : routerInput;
        if (w.RouterInputScale is { } scale)
        {
            // rms_norm(x) · (1/√n_embd) ⊙ scale, three roundings as ggml's three ops
            var scaled = _buffers.RouterIn.AsSpan(0, N * d);                   // [N, n_embd]
            Norm.RmsNorm(r, d, hp.RmsEpsilon, scaled);
            TensorPrimitives.Multiply(scaled, 1f / MathF.Sqrt(d), scaled);
            for (int t = 0; t < N; t++)
                TensorPrimitives.Multiply(scaled.Slice(t * d, d), scale, scaled.Slice(t * d, d));
            r = scaled;
        }

        var probs = _buffers.Router.AsSpan(0, N * nExp);                        // [N, n_expert]
        Linear(w.Router, r, probs);
        Activation.Softmax(probs, nExp);
        var chosen = _buffers.Chosen.AsSpan(0, N * used);                       // [N, used] expert ids
        var weights = _buffers.ChosenWeight.AsSpan(0, N * used);                // [N, used] their weights
        for (int t = 0; t < N; t++)
        {
            var wt = weights.Slice(t * used, used);
            TopExperts(probs.Slice(t * nExp, nExp), chosen.Slice(t * used, used), wt);
            TensorPrimitives.Divide(wt, MathF.Max(TensorPrimitives.Sum(wt), MinWeightSum), wt);
        }

        RunExperts(h, w, chosen, weights, output, geluTanh);
        if (w.Shared is not null)
            AddSharedExpert(h, w.Shared, w.SharedGate!, output);
    }

    /// <summary>Floor of the chosen experts' weight sum before renormalising (llama.cpp: the smallest normal F16).</summary>
    private const float MinWeightSum = 6.103515625e-5f;

    /// <summary>output += sigmoid(gate · h) · ffn_shared(h), per token. h, output: [N, n_embd].</summary>
    private void AddSharedExpert(ReadOnlySpan<float> h, FeedForwardWeights shared, float[] gate, Span<float> output)
    {
        int d = Config.EmbeddingLength;
        var y = _buffers.ExpertOut.AsSpan(0, N * d);                            // [N, n_embd]
        FeedForward(h, shared, y);
        for (int t = 0; t < N; t++)
        {
            float g = 1f / (1f + MathF.Exp(-TensorPrimitives.Dot(gate, h.Slice(t * d, d))));
            TensorPrimitives.MultiplyAdd(y.Slice(t * d, d), g, output.Slice(t * d, d), output.Slice(t * d, d));
        }
    }

    /// <summary>The <paramref name="ids"/>.Length largest of <paramref name="p"/> (ties to the lower id), largest first.</summary>
    protected static void TopExperts(ReadOnlySpan<float> p, Span<int> ids, Span<float> values)
    {
        for (int j = 0; j < ids.Length; j++)
        {
            int best = -1;
            for (int e = 0; e < p.Length; e++)
            {
                if ((best < 0 || p[e] > p[best]) && ids[..j].IndexOf(e) < 0)
                    best = e;
            }

            ids[j] = best;
            values[j] = p[best];
        }
    }

    /// <summary>
    /// output[t] = Σ_j weight[t, j] · expert_{chosen[t, j]}(h[t]) with gated experts (SwiGLU, or GEGLU with
    /// <paramref name="geluTanh"/>), summed in the order of the slots j as llama.cpp does. The (token, expert) pairs
    /// are sorted by expert (a counting sort, tokens in order within an expert), the tokens gathered into one matrix,
    /// and each pass over the experts is one grouped matmul: gate and up (or the fused gate+up), then down (on each
    /// expert's repacked matrix where its type has a repacked layout).
    /// h: [N, n_embd], chosen and weight: [N, used].
    /// </summary>
    protected void RunExperts(ReadOnlySpan<float> h, ExpertWeights w, ReadOnlySpan<int> chosen, ReadOnlySpan<float> weight, Span<float> output, bool geluTanh = false)
    {
        var hp = Config;
        int d = hp.EmbeddingLength, ff = w.Down.Cols, nExp = hp.ExpertCount, rows = chosen.Length, used = rows / N;
        var start = _buffers.ExpertStart.AsSpan(0, nExp + 1);                  // [n_expert + 1] first row of each expert
        var pair = _buffers.ExpertTokens.AsSpan(0, rows);                       // [rows] index into chosen
        var rowOf = _buffers.ExpertRow.AsSpan(0, rows);                         // [rows] inverse of pair
        start.Clear();
        foreach (int e in chosen)
            start[e + 1]++;
        for (int e = 0; e < nExp; e++)
            start[e + 1] += start[e];
        Span<int> next = nExp <= 512 ? stackalloc int[nExp] : new int[nExp];
        start[..nExp].CopyTo(next);
        for (int i = 0; i < rows; i++)
        {
            rowOf[i] = next[chosen[i]]++;
            pair[rowOf[i]] = i;
        }

        var xs = _buffers.ExpertIn.AsSpan(0, rows * d);                         // [rows, n_embd] tokens by expert
        for (int r = 0; r < rows; r++)
            h.Slice(pair[r] / used * d, d).CopyTo(xs.Slice(r * d, d));

        // Fused: gate and up side by side in one [rows, 2·n_ff_exp] product; else each [rows, n_ff_exp].
        var gate = _buffers.Gate.AsSpan(0, rows * ff * (w.GateUp is null ? 1 : 2));
        var up = _buffers.Up.AsSpan(0, rows * ff);                              // [rows, n_ff_exp]; the fused form's activations
        var ys = _buffers.ExpertOut.AsSpan(0, rows * d);                        // [rows, n_embd]
        int active = 0;
        for (int e = 0; e < nExp; e++)
            active += start[e + 1] > start[e] ? 1 : 0;
        Span<MatMulSegment> segments = active * 2 <= 256 ? stackalloc MatMulSegment[active * 2] : new MatMulSegment[active * 2];
        fixed (float* gp = gate)
        fixed (float* upp = up)
        fixed (float* yp = ys)
        {
            int s = 0;
            for (int e = 0; e < nExp; e++)
            {
                int m = start[e + 1] - start[e];
                if (m == 0)
                    continue;
                if (w.GateUp is { } gu)
                    segments[s++] = new MatMulSegment { Weights = gu.Expert(e), Rows = 2 * ff, TokenStart = start[e], Tokens = m, Output = gp + (long)start[e] * 2 * ff };
                else
                {
                    segments[s++] = new MatMulSegment { Weights = w.Gate!.Expert(e), Rows = ff, TokenStart = start[e], Tokens = m, Output = gp + (long)start[e] * ff };
                    segments[s++] = new MatMulSegment { Weights = w.Up!.Expert(e), Rows = ff, TokenStart = start[e], Tokens = m, Output = upp + (long)start[e] * ff };
                }
            }

            if (w.GateUp is { } fused)
                Matmul.MultiplyGrouped(fused.Type, d, xs, segments[..s], fused.IsRepacked);
            else if (w.Gate!.Type == w.Up!.Type)
                Matmul.MultiplyGrouped(w.Gate.Type, d, xs, segments[..s], w.Gate.IsRepacked);
            else
            {
                for (int i = 0; i < s; i += 2)
                {
                    Matmul.MultiplyGrouped(w.Gate.Type, d, xs, segments.Slice(i, 1), w.Gate.IsRepacked);
                    Matmul.MultiplyGrouped(w.Up.Type, d, xs, segments.Slice(i + 1, 1), w.Up.IsRepacked);
                }
            }

            var activations = up;
            if (w.GateUp is null)
            {
                Glu(gate, up, gate, geluTanh);
                activations = gate;
            }
            else
            {
                for (int r = 0; r < rows; r++)
                    Glu(gate.Slice(r * 2 * ff, ff), gate.Slice(r * 2 * ff + ff, ff), up.Slice(r * ff, ff), geluTanh);
            }

            s = 0;
            for (int e = 0; e < nExp; e++)
            {
                int m = start[e + 1] - start[e];
                if (m > 0)
                    segments[s++] = new MatMulSegment { Weights = w.Down.Expert(e), Rows = d, TokenStart = start[e], Tokens = m, Output = yp + (long)start[e] * d };
            }

            Matmul.MultiplyGrouped(w.Down.Type, ff, activations, segments[..s], w.Down.IsRepacked);
        }

        // Each expert's output times its own scale (when the file has one), then its routing weight, summed per
        // token in slot order.
        output.Clear();
        for (int t = 0; t < N; t++)
        {
            var o = output.Slice(t * d, d);
            for (int j = 0; j < used; j++)
            {
                int i = t * used + j;
                var y = ys.Slice(rowOf[i] * d, d);
                if (w.DownScale is { } downScale)
                    TensorPrimitives.Multiply(y, downScale[chosen[i]], y);
                TensorPrimitives.Multiply(y, weight[i], y);
                TensorPrimitives.Add(o, y, o);
            }
        }
    }

    private static void Glu(ReadOnlySpan<float> gate, ReadOnlySpan<float> up, Span<float> output, bool geluTanh)
    {
        if (geluTanh)
            Activation.GeluTanhGlu(gate, up, output);
        else
            Activation.SwiGlu(gate, up, output);
    }
}
