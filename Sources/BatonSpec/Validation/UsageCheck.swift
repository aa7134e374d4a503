/// Warnings for inputs no template uses and model stages' outputs nothing uses.
enum UsageCheck {
    static func run(_ context: inout CompilationContext) {
        guard !context.hasTemplateErrors else { return }
        for input in context.spec.inputs where !context.usedInputs.contains(input.name) {
            context.emit(.unusedInput(input.name), at: context.sourceMap.keyLocation("inputs.\(input.name)"))
        }
        let outputs = Set(context.outputStages)
        // A tool stage that another stage needs without reading it runs for its effects; a tool definition has no output.
        for stage in context.spec.stages
        where !stage.isCritic && !stage.isTool && !outputs.contains(stage.name) && !context.referencedStages.contains(stage.name) {
            context.emit(.unusedOutput(stage.name), at: context.stageLocation(stage.name))
        }
    }
}
