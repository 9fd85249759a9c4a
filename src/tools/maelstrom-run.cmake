mael_tool(maelstrom-run ${CMAKE_CURRENT_SOURCE_DIR}/maelstrom-run.cc mael_client)
