import Foundation

/// A tool call a stand-in's model makes when tools are offered: its name and its arguments in the pieces the
/// API streams them in (OpenAI `function.arguments` fragments, Anthropic `partial_json`; Ollama sends them whole).
public struct ScriptedToolCall: Sendable {
    /// The call's id as the API sent it; nil: the stand-in makes one in the API's own format.
    public var id: String?
    /// The tool's name.
    public var name: String
    /// The arguments' JSON text, in streamed pieces.
    public var fragments: [String]
    /// The arguments' JSON text.
    public var arguments: String { fragments.joined() }

    /// Creates a call streamed in exactly these pieces.
    public init(id: String? = nil, name: String, fragments: [String]) {
        self.id = id
        self.name = name
        self.fragments = fragments
    }

    /// Creates a call whose arguments stream in pieces of 8 characters.
    public init(id: String? = nil, name: String, arguments: String) {
        self.init(id: id, name: name, fragments: StandInReply.tokens(arguments, json: true))
    }

    /// The call of OpenAI's recorded stream `.inline-snapshot/external/c6aa7e397b71….bin` (openai/openai-python 3.3.1,
    /// `tests/lib/chat/test_completions_streaming.py:640-660`, gpt-4o-2024-08-06), pieces as recorded.
    public static let openAIRecordedWeather = ScriptedToolCall(
        id: "call_c91SqDXlYFuETYv8mUHzz6pp", name: "GetWeatherArgs",
        fragments: ["{\"", "city", "\":\"", "Ed", "inburgh", "\",\"", "country", "\":\"", "UK", "\",\"", "units", "\":\"", "c", "\"}"])

    /// The call of Anthropic's recorded stream `tests/lib/streaming/fixtures/tool_use_response.txt`
    /// (anthropics/anthropic-sdk-python 0.121.0, claude-sonnet-4-20250514), pieces as recorded.
    public static let anthropicRecordedWeather = ScriptedToolCall(
        id: "toolu_01NRLabsLyVHZPKxbKvkfSMn", name: "get_weather", fragments: ["{\"locati", "on\": \"P", "ar", "is\"}"])
}
