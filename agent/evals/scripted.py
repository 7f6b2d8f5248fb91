"""A scripted chat model (langchain's stock fakes do not implement bind_tools): unit tests drive the loop with it
in process. (The eval runner's replay serves its script over HTTP instead: agent/evals/cassette.py `scripted`.)

Each reply is chosen by the number of AI messages already in the conversation, so a resumed thread
(a new process, the same checkpoint) gets the next reply, not the first one again. A reply is text, or
a list of tool calls {"name", "args"}, or a function of the messages returning one of those."""
from __future__ import annotations

import uuid
from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool


class ScriptedChatModel(BaseChatModel):
    replies: list[Any]
    seen: list[list] = []

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools, **kwargs: Any):
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _reply(self, messages: list) -> AIMessage:
        self.seen.append(list(messages))
        n = sum(1 for m in messages if m.type == "ai")
        reply = self.replies[n] if n < len(self.replies) else "done"
        if callable(reply):
            reply = reply(messages)
        if isinstance(reply, str):
            return AIMessage(content=reply)
        return AIMessage(content="", tool_calls=[{"name": c["name"], "args": c.get("args", {}),
                                                  "id": f"call_{uuid.uuid4().hex[:8]}"} for c in reply])

    def _generate(self, messages, stop=None, run_manager=None, **kwargs: Any) -> ChatResult:
        return ChatResult(generations=[ChatGeneration(message=self._reply(messages))])

    def _stream(self, messages, stop=None, run_manager=None, **kwargs: Any):
        msg = self._reply(messages)
        if msg.tool_calls:
            yield ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[
                {"name": c["name"], "args": __import__("json").dumps(c["args"]), "id": c["id"], "index": i}
                for i, c in enumerate(msg.tool_calls)]))
            return
        for word in msg.content.split(" "):
            yield ChatGenerationChunk(message=AIMessageChunk(content=word + " "))
