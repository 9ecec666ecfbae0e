using ArchNet.Passes.Canonicalization;
using ArchNet.Passes.Rewriting;
using ArchNet.Passes.Rules;

namespace ArchNet.Passes;

/// <summary>Every rewrite rule the compiler has, in a fixed order (the order breaks ties, so it is part of determinism).</summary>
public static class RuleCatalog
{
    /// <summary>Rules canonicalization applies wherever they match: they never make a model less supported.</summary>
    public static IReadOnlyList<RewriteRule> Canonical { get; } =
    [
        new FoldConstants(), new RemoveIdentity(), new RemoveDropout(), new FoldBatchNormIntoConv(), new FoldBatchNormIntoGemm(),
        new CollapseReshapeChain(), new CancelTransposes(), new RecognizeLayerNormalization(), new RecognizeGeluErf(),
        new RecognizeGeluTanh(), new RecognizeSoftmax(), new RecognizeHardSwish(), new RecognizeSilu(),
    ];

    /// <summary>Rules legalization chooses among for a node the capability rejects.</summary>
    public static IReadOnlyList<RewriteRule> Legalization { get; } =
    [
        new GemmToMatMulAdd(), new MatMulAddToGemm(), new GemmToConv1x1(), new MatMulToConv1x1(), new ChannelsLastLinearToConv1x1(), new Conv1x1ToGemm(),
        new Conv1x1To3x3(), new PatchifyConvToMatMul(), new ConvKxKTo3x3Stack(), new StridedConvToSpaceToDepth(), new PatchifyConvToStridedConvs(), new GroupedConvToDense(),
        new SplitConvInputChannels(), new SplitConvOutputChannels(), new SplitGroupedConvChannels(), new CentreConvKernel(), new FoldPadIntoConv(),
        new AveragePoolToDepthwiseConv(), new AveragePoolToGlobalAveragePool(), new GlobalAveragePoolToDepthwiseConv(), new ReduceMeanToGlobalAveragePool(), new GlobalMaxPoolToMaxPool(),
        new ClipToRelu(), new ClipToReluDifference(), new HardSigmoidToRelu(), new HardSwishToHardSigmoidMul(), new HardSwishToRelu(),
        new LeakyReluToRelu(), new LeakyReluToPRelu(), new SiluToSigmoidMul(),
        new SubConstantToAdd(), new DivConstantIntoLinear(), new DivConstantToMul(), new ChannelAffineToDepthwiseConv(), new BatchNormToDepthwiseConv(), new BatchNormToMulAdd(),
        new LayerNormalizationDecompose(), new SoftmaxDecompose(), new GeluDecompose(),
        new SliceOfLinearToSlicedWeights(), new GatherScalarToSliceReshape(), new ZeroChannelConcatToConv(), new ZeroChannelConcatIntoConv(), new ChannelSliceToConv(), new ChannelSplitToConvs(),
        new ResizeNearest2xToConvTranspose(), new ResizeNearest2xToDepthToSpace(), new ResidualAddToConcatConv(), new SplitAddChannels(),
        new FlattenToReshape(), new ReshapeToFlatten(),
    ];

    public static IEnumerable<RewriteRule> All => Canonical.Concat(Legalization);

    public static RewriteRule Find(string name) =>
        All.FirstOrDefault(r => r.Name == name) ?? throw new IR.ArchNetException(
            $"unknown rewrite rule '{name}'; known: {string.Join(", ", All.Select(r => r.Name))}");
}
