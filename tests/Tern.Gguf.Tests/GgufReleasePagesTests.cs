namespace Tern.Gguf.Tests;

/// <summary>Releasing a tensor's mapped pages only drops them from memory: the bytes read back unchanged.</summary>
public sealed class GgufReleasePagesTests : IDisposable
{
    private readonly TempDirectory _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public void Released_tensors_and_their_neighbours_read_back_unchanged()
    {
        // Three tensors of 3 pages and a bit each, so the middle one starts and ends inside pages it shares.
        var random = new Random(4);
        var data = new byte[3][];
        var writer = new GgufWriter();
        for (int i = 0; i < data.Length; i++)
        {
            data[i] = new byte[3 * Environment.SystemPageSize + 100];
            random.NextBytes(data[i]);
            writer.AddTensor($"t{i}", [data[i].Length], GgmlType.I8, data[i]);
        }

        string path = _temp.File("pages.gguf");
        writer.WriteFile(path);
        using var file = GgufFile.Open(path);
        _ = file.GetTensorBytes(file.GetTensor("t1")).ToArray(); // mapped in
        file.ReleasePages(file.GetTensor("t1"));
        for (int i = 0; i < data.Length; i++)
            Assert.True(file.GetTensorBytes(file.GetTensor($"t{i}")).SequenceEqual(data[i]), $"t{i}");

        file.Dispose();
        Assert.Throws<ObjectDisposedException>(() => file.ReleasePages(file.GetTensor("t1")));
    }
}
