using ArchNet.Frontend;
using ArchNet.IR;
using ArchNet.Passes;

namespace ArchNet.Compiler.Stages;

/// <summary>Reads the model file (once), imports it, binds the sizes the user gave, and checks the inputs' sizes.</summary>
public sealed class ImportStage(CompileState state) : Stage(state)
{
    public override string Name => "import";

    protected override int Execute(Model model)
    {
        var path = Options.ModelPath;
        if (!File.Exists(path)) throw new ArchNetException($"model file '{path}' does not exist");
        State.ModelBytes = OnnxImporter.ReadFile(path);
        model.TakeFrom(OnnxImporter.Load(State.ModelBytes, path));
        if (Options.Dims.Count > 0) InputShapes.Bind(model, Options.Dims);
        CheckInputSizes(model, path);
        State.OpsBefore = ModelFacts.OpCounts(model);
        return 1;
    }

    /// <summary>Every static size of a graph input is at least 1 (an empty input has no items to calibrate on or to
    /// measure) and fits an array.</summary>
    private static void CheckInputSizes(Model model, string path)
    {
        foreach (var input in model.Graph.Inputs.Where(i => !i.IsConstant && i.Shape is not null))
            for (var axis = 0; axis < input.Shape!.Rank; axis++)
                if (input.Shape[axis].Value is { } size && size is < 1 or > int.MaxValue)
                    throw new ArchNetException($"{Path.GetFileName(path)}: graph input '{input.Name}' is {input.Shape}: size {size} on axis {axis} " +
                        (size < 1 ? "leaves no data to compile with" : "is beyond what one tensor can hold"));
    }
}
