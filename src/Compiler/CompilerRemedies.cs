using ArchNet.Capabilities;

namespace ArchNet.Compiler;

/// <summary>The remedies the compiler has, for the audit: each pass that owns some registers them (exact rewrites, then
/// retraining), so the audit promises exactly what the compile does.</summary>
public static class CompilerRemedies
{
    public static RemedyRegistry All() => new RemedyRegistry()
        .Add(new ArchNet.Passes.Legalization.RewriteRemedies())
        .Add(new ArchNet.Passes.Distillation.ReplacementCatalog.Remedies());
}
