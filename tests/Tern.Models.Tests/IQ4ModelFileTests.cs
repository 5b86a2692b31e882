using Tern.Gguf;

namespace Tern.Models.Tests;

/// <summary>
/// A copy of the IQ4_NL and IQ4_XS files llama-quantize wrote, cut short inside one of their matrices, is refused
/// naming that tensor before any weight is read (the whole files are run against llama.cpp in GoldenLogitsTests).
/// </summary>
public sealed class IQ4ModelFileTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    [Theory]
    [InlineData("models/llama-tiny-iq4_nl.gguf", GgmlType.IQ4_NL)]
    [InlineData("models/llama-tiny-iq4_xs.gguf", GgmlType.IQ4_XS)]
    public void File_cut_inside_an_IQ4_tensor_is_refused_naming_it(string model, GgmlType type)
    {
        string path = SharedData.Path(model);
        long dataStart;
        GgufTensorInfo victim;
        using (var file = GgufFile.Open(path))
        {
            // The IQ4 tensor stored last: cutting inside it leaves every tensor before it whole.
            victim = file.Tensors.Where(t => t.Type == type).MaxBy(t => t.Offset)!;
            dataStart = file.DataOffset;
        }

        byte[] bytes = File.ReadAllBytes(path);
        long cut = dataStart + (long)victim.Offset + victim.ByteCount / 2;
        string truncated = _temp.Write("truncated.gguf", bytes[..(int)cut]);

        var e = Assert.Throws<GgufFormatException>(() => DecoderModel.Load(truncated));
        Assert.Contains($"tensor '{victim.Name}'", e.Message);
        Assert.Contains("runs past the end of the file", e.Message);
    }

    public void Dispose() => _temp.Dispose();
}
