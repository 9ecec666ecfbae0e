using ArchNet.Backends.Abstractions;
using ArchNet.Backends.Onnx;

namespace ArchNet.Compiler;

/// <summary>The backends that ship inside archnetc; plugins add theirs (BackendCatalog).</summary>
public static class BuiltInBackends
{
    public static IEnumerable<IBackend> All() => [new OnnxQdqBackend(), new ArchNet.Backends.C.CBackend(), new ArchNet.Backends.TFLite.TFLiteBackend()];
}
