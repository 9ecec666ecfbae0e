using ArchNet.Testing;
using ArchNet.Frontend.Onnx;
using ArchNet.IR;
using Google.Protobuf;

namespace ArchNet.Frontend.Tests;

/// <summary>Unusable files fail with one line that names the file and the problem.</summary>
public sealed class BadInputTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private ArchNetException LoadFails(string path)
    {
        var e = Assert.Throws<ArchNetException>(() => OnnxImporter.Load(path));
        Assert.StartsWith(path + ":", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    /// <summary>
    /// The bytes of a real teacher (fmnist_cnn) with bits flipped, bytes inserted or deleted, or cut, seeded: the
    /// importer (our own zero-copy protobuf reader, then the IR checks) either imports the result or refuses it with one
    /// line naming the file; never another exception.
    /// </summary>
    [Fact]
    public void CorruptedBytes_AreImportedOrRefusedWithOneLine_NeverAnotherException()
    {
        var original = File.ReadAllBytes(TestData.Teacher("fmnist_cnn").Onnx);
        var path = _temp.File("corrupt.onnx");
        var (imported, bad) = (0, new List<string>());
        for (var seed = 0; seed < 3000; seed++)
        {
            // Most of the file is weights: half of the edits go to the first 2 KB, where the graph's structure is.
            File.WriteAllBytes(path, Corruption.Bytes(original, seed, maxEdits: 4, within: 2048));
            var fault = Corruption.Fault(() => { OnnxImporter.Load(path); imported++; },
                refused => refused.Message.StartsWith(path + ":", StringComparison.Ordinal));
            if (fault is not null) bad.Add($"seed {seed}: {fault}");
        }
        Assert.True(bad.Count == 0, string.Join("\n", bad.Take(20)));
        Assert.True(imported is > 0 and < 3000, $"imported {imported} of 3000");
    }

    [Fact]
    public void TruncatedFile_IsRejected_NamingTheFile()
    {
        var bytes = ProtoModels.AddRelu().ToByteArray();
        var path = _temp.File("truncated.onnx");
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var e = LoadFails(path);
        Assert.Contains("not a valid ONNX model", e.Message);
    }

    [Fact]
    public void RandomBytes_AreRejected_NamingTheFile()
    {
        var bytes = new byte[4096];
        new Random(7).NextBytes(bytes);
        var path = _temp.File("random.onnx");
        File.WriteAllBytes(path, bytes);
        LoadFails(path);
    }

    [Fact]
    public void EmptyFile_IsRejected_AsHavingNoGraph()
    {
        var path = _temp.File("empty.onnx");
        File.WriteAllBytes(path, []);
        Assert.Contains("no graph", LoadFails(path).Message);
    }

    [Fact]
    public void MissingFile_IsRejected()
    {
        Assert.Contains("not found", LoadFails(_temp.File("absent.onnx")).Message);
    }

    [Fact]
    public void GraphWithACycle_IsRejected_NamingANodeOnIt()
    {
        var g = new GraphProto { Name = "cyclic" };
        g.Input.Add(ProtoModels.Floats("x", 2));
        g.Output.Add(ProtoModels.Floats("b", 2));
        g.Node.Add(ProtoModels.Node("Add", ["x", "b"], ["a"], "first"));
        g.Node.Add(ProtoModels.Node("Relu", ["a"], ["b"], "second"));
        var path = _temp.File("cycle.onnx");
        ProtoModels.Write(ProtoModels.Model(g), path);
        var e = LoadFails(path);
        Assert.Contains("cycle", e.Message);
        Assert.Matches("first|second", e.Message);
    }

    [Fact]
    public void NodeReadingAnUndefinedValue_IsRejected_NamingNodeAndValue()
    {
        var g = new GraphProto { Name = "dangling" };
        g.Input.Add(ProtoModels.Floats("x", 2));
        g.Output.Add(ProtoModels.Floats("y", 2));
        g.Node.Add(ProtoModels.Node("Add", ["x", "nowhere"], ["y"], "adder"));
        var path = _temp.File("undefined.onnx");
        ProtoModels.Write(ProtoModels.Model(g), path);
        var e = LoadFails(path);
        Assert.Contains("'adder'", e.Message);
        Assert.Contains("'nowhere'", e.Message);
    }

    [Fact]
    public void ValueDefinedTwice_IsRejected()
    {
        var g = new GraphProto { Name = "twice" };
        g.Input.Add(ProtoModels.Floats("x", 2));
        g.Output.Add(ProtoModels.Floats("y", 2));
        g.Node.Add(ProtoModels.Node("Relu", ["x"], ["y"], "one"));
        g.Node.Add(ProtoModels.Node("Neg", ["x"], ["y"], "two"));
        var path = _temp.File("twice.onnx");
        ProtoModels.Write(ProtoModels.Model(g), path);
        Assert.Contains("defined twice", LoadFails(path).Message);
    }

    [Fact]
    public void UnsupportedIrVersion_IsRejected()
    {
        var m = ProtoModels.AddRelu();
        m.IrVersion = 99;
        var path = _temp.File("future.onnx");
        ProtoModels.Write(m, path);
        Assert.Contains("IR version 99", LoadFails(path).Message);
    }

    [Fact]
    public void RawDataOfTheWrongSize_IsRejected_NamingTheTensor()
    {
        var m = ProtoModels.AddRelu();
        m.Graph.Initializer[0].RawData = ByteString.CopyFrom(new byte[5]);
        var path = _temp.File("short.onnx");
        ProtoModels.Write(m, path);
        var e = LoadFails(path);
        Assert.Contains("initializer 'w'", e.Message);
        Assert.Contains("24 bytes", e.Message);
    }
}
