-- Feeds dbo.USER_INV_CHANGES from every change to dbo.IM_INV and dbo.IM_INV_CELL, made by any Counterpoint
-- workstation. Generated from crates/counterpoint/src/schema/; applied by `cpbridge cp migrate`. Safe to run
-- again. They can never fail a register's posting: any error of their own is swallowed (the stock reconcile
-- catches up). Safe to drop: cpbridge then sees stock changes at its reconcile.

CREATE OR ALTER TRIGGER dbo.USER_TR_IM_INV_CHANGES ON dbo.IM_INV
WITH EXECUTE AS OWNER
AFTER INSERT, UPDATE, DELETE
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT OFF;
    IF OBJECT_ID(N'dbo.USER_INV_CHANGES', N'U') IS NULL RETURN;
    SELECT ITEM_NO, LOC_ID INTO #cpbridge_im_inv_changes FROM (
        SELECT i.ITEM_NO, i.LOC_ID
        FROM inserted i
        LEFT JOIN deleted d ON d.ITEM_NO = i.ITEM_NO AND d.LOC_ID = i.LOC_ID
        WHERE d.ITEM_NO IS NULL
           OR EXISTS (SELECT i.QTY_ON_HND, i.QTY_COMMIT EXCEPT SELECT d.QTY_ON_HND, d.QTY_COMMIT)
        UNION ALL
        SELECT d.ITEM_NO, d.LOC_ID
        FROM deleted d
        WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.ITEM_NO = d.ITEM_NO AND i.LOC_ID = d.LOC_ID)
    ) c;
    IF @@ROWCOUNT = 0 RETURN;
    BEGIN TRY
        EXEC sys.sp_executesql N'INSERT INTO dbo.USER_INV_CHANGES (ITEM_NO, LOC_ID, CHANGED_DT) SELECT ITEM_NO, LOC_ID, GETUTCDATE() FROM #cpbridge_im_inv_changes';
    END TRY
    BEGIN CATCH
        -- Never the register's problem. A doomed transaction (XACT_STATE() = -1) cannot be saved by anyone.
        RETURN;
    END CATCH;
END;
GO

CREATE OR ALTER TRIGGER dbo.USER_TR_IM_INV_CELL_CHANGES ON dbo.IM_INV_CELL
WITH EXECUTE AS OWNER
AFTER INSERT, UPDATE, DELETE
AS
BEGIN
    SET NOCOUNT ON;
    SET XACT_ABORT OFF;
    IF OBJECT_ID(N'dbo.USER_INV_CHANGES', N'U') IS NULL RETURN;
    SELECT ITEM_NO, LOC_ID, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR INTO #cpbridge_im_inv_cell_changes FROM (
        SELECT i.ITEM_NO, i.LOC_ID, i.DIM_1_UPR, i.DIM_2_UPR, i.DIM_3_UPR
        FROM inserted i
        LEFT JOIN deleted d ON d.ITEM_NO = i.ITEM_NO AND d.LOC_ID = i.LOC_ID AND d.DIM_1_UPR = i.DIM_1_UPR AND d.DIM_2_UPR = i.DIM_2_UPR AND d.DIM_3_UPR = i.DIM_3_UPR
        WHERE d.ITEM_NO IS NULL
           OR EXISTS (SELECT i.QTY_ON_HND, i.QTY_COMMIT, i.IS_ECOMM_ITEM_CELL EXCEPT SELECT d.QTY_ON_HND, d.QTY_COMMIT, d.IS_ECOMM_ITEM_CELL)
        UNION ALL
        SELECT d.ITEM_NO, d.LOC_ID, d.DIM_1_UPR, d.DIM_2_UPR, d.DIM_3_UPR
        FROM deleted d
        WHERE NOT EXISTS (SELECT 1 FROM inserted i WHERE i.ITEM_NO = d.ITEM_NO AND i.LOC_ID = d.LOC_ID AND i.DIM_1_UPR = d.DIM_1_UPR AND i.DIM_2_UPR = d.DIM_2_UPR AND i.DIM_3_UPR = d.DIM_3_UPR)
    ) c;
    IF @@ROWCOUNT = 0 RETURN;
    BEGIN TRY
        EXEC sys.sp_executesql N'INSERT INTO dbo.USER_INV_CHANGES (ITEM_NO, LOC_ID, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR, CHANGED_DT) SELECT ITEM_NO, LOC_ID, DIM_1_UPR, DIM_2_UPR, DIM_3_UPR, GETUTCDATE() FROM #cpbridge_im_inv_cell_changes';
    END TRY
    BEGIN CATCH
        -- Never the register's problem. A doomed transaction (XACT_STATE() = -1) cannot be saved by anyone.
        RETURN;
    END CATCH;
END;
GO
