mael_tool(maelstrom-client ${CMAKE_CURRENT_SOURCE_DIR}/maelstrom-client.cc mael_client_api)
