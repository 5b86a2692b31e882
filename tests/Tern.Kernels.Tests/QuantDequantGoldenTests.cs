using System.Runtime.InteropServices;
using System.Text.Json;
using Tern.Gguf;
using Tern.Testing;

namespace Tern.Kernels.Tests;

/// <summary>
/// Dequantization of real llama-quantize tensors against gguf-py's reference output in shared/golden/dequant, and in
/// shared/golden/2026/dequant for the types added since (IQ4_NL, IQ4_XS).
/// </summary>
public class QuantDequantGoldenTests
{
    private const string Folder = "golden/dequant";
    private const string Folder2026 = "golden/2026/dequant";

    public sealed record GoldenCase(string Type, string Model, string Tensor, int Rows, int RowLength, string File)
    {
        public override string ToString() => Type;
    }

    public static TheoryData<string, string> Types()
    {
        var data = new TheoryData<string, string>();
        foreach (var folder in new[] { Folder, Folder2026 })
        {
            foreach (var c in LoadIndex(folder))
            {
                data.Add(folder, c.Type);
            }
        }

        return data;
    }

    [Fact]
    public void Golden_index_lists_the_fourteen_quantized_llama_tiny_types()
    {
        Assert.Equal(14, LoadIndex(Folder).Count);
    }

    [Fact]
    public void Golden_2026_index_lists_IQ4_NL_and_IQ4_XS()
    {
        Assert.Equal(["IQ4_NL", "IQ4_XS"], LoadIndex(Folder2026).Select(c => c.Type).Order());
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Dequantize_matches_gguf_py_reference_rows(string folder, string typeName)
    {
        var c = LoadIndex(folder).Single(x => x.Type == typeName);
        var type = Enum.Parse<GgmlType>(c.Type);
        float[] expected = MemoryMarshal.Cast<byte, float>(File.ReadAllBytes(SharedData.Path(folder + "/" + c.File))).ToArray();
        Assert.Equal(c.Rows * c.RowLength, expected.Length);

        using var gguf = GgufFile.Open(SharedData.Path(c.Model));
        var tensor = gguf.GetTensor(c.Tensor);
        Assert.Equal(type, tensor.Type);
        Assert.Equal(c.RowLength, tensor.RowLength);

        var actual = new float[c.Rows * c.RowLength];
        QuantTypes.Get(type).ToFloat(gguf.GetTensorRows(tensor, 0, c.Rows), actual);

        bool exact = type is GgmlType.F16 or GgmlType.BF16;
        for (int r = 0; r < c.Rows; r++)
        {
            var want = expected.AsSpan(r * c.RowLength, c.RowLength);
            var got = actual.AsSpan(r * c.RowLength, c.RowLength);
            float rowMax = 0;
            foreach (float v in want) rowMax = MathF.Max(rowMax, MathF.Abs(v));
            Assert.True(rowMax > 0, $"{type} row {r} of the reference is all zero, so the check would be vacuous");
            float tolerance = exact ? 0 : 1e-6f * rowMax;
            for (int j = 0; j < c.RowLength; j++)
            {
                if (!(MathF.Abs(got[j] - want[j]) <= tolerance))
                {
                    Assert.Fail($"{type} row {r} element {j}: expected {want[j]:R}, got {got[j]:R} (tolerance {tolerance:R})");
                }
            }
        }
    }

    private static List<GoldenCase> LoadIndex(string folder)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(SharedData.Path(folder + "/index.json")));
        return doc.RootElement.EnumerateArray().Select(e => new GoldenCase(
            e.GetProperty("type").GetString()!,
            e.GetProperty("model").GetString()!,
            e.GetProperty("tensor").GetString()!,
            e.GetProperty("rows").GetInt32(),
            e.GetProperty("row_length").GetInt32(),
            e.GetProperty("file").GetString()!)).ToList();
    }
}
