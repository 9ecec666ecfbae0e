using System.Runtime.InteropServices;
using ArchNet.Frontend.Onnx;
using ArchNet.IR;

namespace ArchNet.Frontend.Tests;

/// <summary>External tensor data is read relative to the model's folder and never from outside it.</summary>
public sealed class ExternalDataTests : IDisposable
{
    private readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    private static readonly float[] Weights = [1, -2, 3, -4, 5, -6];

    /// <summary>The AddRelu model with w stored externally at <paramref name="location"/>.</summary>
    private string ModelWithExternalWeights(string location, long? offset = null, long? length = null)
    {
        var m = ProtoModels.AddRelu();
        var w = m.Graph.Initializer[0];
        w.ClearRawData();
        w.DataLocation = TensorProto.Types.DataLocation.External;
        w.ExternalData.Add(new StringStringEntryProto { Key = "location", Value = location });
        if (offset is { } o) w.ExternalData.Add(new StringStringEntryProto { Key = "offset", Value = o.ToString() });
        if (length is { } l) w.ExternalData.Add(new StringStringEntryProto { Key = "length", Value = l.ToString() });
        var path = _temp.File("model.onnx");
        ProtoModels.Write(m, path);
        return path;
    }

    private ArchNetException LoadFails(string path)
    {
        var e = Assert.Throws<ArchNetException>(() => OnnxImporter.Load(path));
        Assert.StartsWith(path + ":", e.Message);
        Assert.Contains("initializer 'w'", e.Message);
        Assert.DoesNotContain('\n', e.Message);
        return e;
    }

    [Fact]
    public void ExternalData_NextToTheModel_IsRead_AtItsOffset()
    {
        var bytes = new byte[8].Concat(MemoryMarshal.AsBytes(Weights.AsSpan()).ToArray()).ToArray();
        Directory.CreateDirectory(_temp.File("weights"));
        File.WriteAllBytes(_temp.File("weights/w.bin"), bytes);
        var model = OnnxImporter.Load(ModelWithExternalWeights("weights/w.bin", offset: 8, length: 24));
        Assert.Equal(Weights, model.Graph.Constants.Single(c => c.Name == "w").Constant!.ToFloats());
    }

    [Fact]
    public void ExternalData_RelativePathUpTheTree_IsRefused()
    {
        var e = LoadFails(ModelWithExternalWeights("../../etc/passwd"));
        Assert.Contains("'../../etc/passwd'", e.Message);
        Assert.Contains("outside the model's folder", e.Message);
    }

    [Fact]
    public void ExternalData_AbsolutePath_IsRefused()
    {
        var e = LoadFails(ModelWithExternalWeights("/etc/passwd"));
        Assert.Contains("'/etc/passwd'", e.Message);
        Assert.Contains("not a relative path", e.Message);
    }

    [Fact]
    public void ExternalData_SymbolicLinkLeadingOutside_IsRefused()
    {
        File.CreateSymbolicLink(_temp.File("w.bin"), "/etc/passwd");
        var e = LoadFails(ModelWithExternalWeights("w.bin"));
        Assert.Contains("symbolic link", e.Message);
    }

    [Fact]
    public void ExternalData_SymbolicLinkedFolderLeadingOutside_IsRefused()
    {
        Directory.CreateSymbolicLink(_temp.File("etc"), "/etc");
        var e = LoadFails(ModelWithExternalWeights("etc/passwd"));
        Assert.Contains("outside the model's folder", e.Message);
    }

    [Fact]
    public void ExternalData_RangePastTheEndOfTheFile_IsRefused()
    {
        File.WriteAllBytes(_temp.File("w.bin"), MemoryMarshal.AsBytes(Weights.AsSpan()).ToArray());
        var e = LoadFails(ModelWithExternalWeights("w.bin", offset: 16, length: 24));
        Assert.Contains("past the end", e.Message);
    }

    [Fact]
    public void ExternalData_MissingFile_IsNamed()
    {
        var e = LoadFails(ModelWithExternalWeights("absent.bin"));
        Assert.Contains("'absent.bin' not found", e.Message);
    }
}
