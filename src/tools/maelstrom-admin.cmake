mael_tool(maelstrom-admin ${CMAKE_CURRENT_SOURCE_DIR}/maelstrom-admin.cc mael_cluster)
