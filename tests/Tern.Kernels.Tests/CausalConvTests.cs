using Tern.Kernels;

namespace Tern.Kernels.Tests;

/// <summary>The DeltaNet layers' depthwise causal convolution with a carried state.</summary>
public sealed class CausalConvTests
{
    private static float[] RandomFloats(Random random, int n) =>
        Enumerable.Range(0, n).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray();

    [Fact]
    public void Each_output_is_the_last_kernel_inputs_times_their_taps_and_the_state_keeps_the_last_three()
    {
        // One channel, kernel 4: taps a, b, c, d; state 1, 2, 3 (oldest first); inputs 4, 5.
        float[] channelMajor = [10f, 100f, 1000f, 10000f];
        var weight = CausalConv.TapMajor(channelMajor, 4);
        float[] state = [1f, 2f, 3f];
        var y = new float[2];

        CausalConv.Run(2, [4f, 5f], weight, state, y);

        Assert.Equal([1 * 10f + 2 * 100f + 3 * 1000f + 4 * 10000f, 2 * 10f + 3 * 100f + 4 * 1000f + 5 * 10000f], y);
        Assert.Equal([3f, 4f, 5f], state);
    }

    [Fact]
    public void Tap_major_weight_puts_each_taps_channels_together()
    {
        // ggml's ssm_conv1d [kernel 2, channels 3]: channel c's taps at 2c, 2c+1.
        Assert.Equal([0f, 2f, 4f, 1f, 3f, 5f], CausalConv.TapMajor([0f, 1f, 2f, 3f, 4f, 5f], 2));
    }

    [Theory]
    [InlineData(256, 4)]
    [InlineData(13, 4)] // a vector of 8 and a scalar tail
    [InlineData(40, 2)]
    public void Vector_run_gives_the_scalar_twins_floats_bit_for_bit(int channels, int kernel)
    {
        var random = new Random(channels * 7 + kernel);
        const int n = 9;
        var x = RandomFloats(random, n * channels);
        var weight = RandomFloats(random, kernel * channels);
        var state = RandomFloats(random, (kernel - 1) * channels);
        var stateScalar = state.ToArray();
        var y = new float[n * channels];
        var yScalar = new float[n * channels];

        CausalConv.Run(n, x, weight, state, y);
        CausalConv.RunScalar(n, x, weight, stateScalar, yScalar);

        Assert.Equal(yScalar, y);
        Assert.Equal(stateScalar, state);
        Assert.Equal(x.AsSpan((n - kernel + 1) * channels).ToArray(), state);
    }

    [Fact]
    public void A_prompt_in_one_call_equals_it_token_by_token_and_in_uneven_pieces()
    {
        var random = new Random(12);
        const int channels = 24, kernel = 4, n = 11;
        var x = RandomFloats(random, n * channels);
        var weight = RandomFloats(random, kernel * channels);
        var initial = RandomFloats(random, (kernel - 1) * channels);

        var whole = new float[n * channels];
        var wholeState = initial.ToArray();
        CausalConv.Run(n, x, weight, wholeState, whole);

        var byToken = new float[n * channels];
        var tokenState = initial.ToArray();
        for (int t = 0; t < n; t++)
            CausalConv.Run(1, x.AsSpan(t * channels, channels), weight, tokenState, byToken.AsSpan(t * channels, channels));

        // Pieces shorter than the state (1 and 2 tokens) shift part of the old state along.
        var byPiece = new float[n * channels];
        var pieceState = initial.ToArray();
        int start = 0;
        foreach (int piece in new[] { 2, 1, 0, 5, 3 })
        {
            CausalConv.Run(piece, x.AsSpan(start * channels, piece * channels), weight, pieceState, byPiece.AsSpan(start * channels, piece * channels));
            start += piece;
        }

        Assert.Equal(n, start);
        Assert.Equal(whole, byToken);
        Assert.Equal(whole, byPiece);
        Assert.Equal(wholeState, tokenState);
        Assert.Equal(wholeState, pieceState);
    }

    [Fact]
    public void Mismatched_buffers_are_refused_with_their_sizes()
    {
        var e = Assert.Throws<ArgumentException>(() => CausalConv.Run(2, new float[10], new float[16], new float[12], new float[8]));
        Assert.Contains("x 10", e.Message);
        Assert.Throws<ArgumentException>(() => CausalConv.Run(1, new float[4], new float[16], new float[16], new float[4]));
        Assert.Throws<ArgumentException>(() => CausalConv.TapMajor(new float[10], 4));
    }
}
